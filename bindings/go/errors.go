package secretsengine

/*
#include "secrets_engine.h"
*/
import "C"

// Status is the C ABI's status code.
type Status int

// Status values, stable across versions.
const (
	StatusOK               Status = C.SE_STATUS_OK
	StatusNullArgument     Status = C.SE_STATUS_NULL_ARGUMENT
	StatusInvalidUTF8      Status = C.SE_STATUS_INVALID_UTF8
	StatusInvalidArgument  Status = C.SE_STATUS_INVALID_ARGUMENT
	StatusInvalidID        Status = C.SE_STATUS_INVALID_ID
	StatusInvalidPattern   Status = C.SE_STATUS_INVALID_PATTERN
	StatusInvalidReference Status = C.SE_STATUS_INVALID_REFERENCE
	StatusNotFound         Status = C.SE_STATUS_NOT_FOUND
	StatusNoProvider       Status = C.SE_STATUS_NO_PROVIDER
	StatusProviderFailed   Status = C.SE_STATUS_PROVIDER_FAILED
	StatusAmbiguous        Status = C.SE_STATUS_AMBIGUOUS
	StatusTimeout          Status = C.SE_STATUS_TIMEOUT
	StatusCrashed          Status = C.SE_STATUS_CRASHED
	StatusUnavailable      Status = C.SE_STATUS_UNAVAILABLE
	StatusLocked           Status = C.SE_STATUS_LOCKED
	StatusPermissionDenied Status = C.SE_STATUS_PERMISSION_DENIED
	StatusBackend          Status = C.SE_STATUS_BACKEND
	StatusConfig           Status = C.SE_STATUS_CONFIG
	StatusUnknownProvider  Status = C.SE_STATUS_UNKNOWN_PROVIDER
	StatusNotConfigurable  Status = C.SE_STATUS_NOT_CONFIGURABLE
	StatusNoStore          Status = C.SE_STATUS_NO_STORE
	StatusUnrepresentable  Status = C.SE_STATUS_UNREPRESENTABLE
	StatusIO               Status = C.SE_STATUS_IO
	StatusPanic            Status = C.SE_STATUS_PANIC
	statusClosed           Status = -1
)

func (s Status) String() string {
	if s == statusClosed {
		return "engine closed"
	}
	return C.GoString(C.se_status_str(C.uint32_t(s)))
}

// Error is what every failing call returns: the status and the library's message
// (which never contains a secret value). Compare with errors.Is against the Err*
// values.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "secrets-engine: " + e.Status.String()
	}
	return "secrets-engine: " + e.Message
}

// Is makes errors.Is(err, ErrNotFound) true for any error of that status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Sentinel errors for errors.Is.
var (
	ErrNotFound         = &Error{Status: StatusNotFound}
	ErrNoProvider       = &Error{Status: StatusNoProvider}
	ErrProviderFailed   = &Error{Status: StatusProviderFailed}
	ErrAmbiguous        = &Error{Status: StatusAmbiguous}
	ErrInvalidID        = &Error{Status: StatusInvalidID}
	ErrInvalidPattern   = &Error{Status: StatusInvalidPattern}
	ErrInvalidReference = &Error{Status: StatusInvalidReference}
	ErrInvalidArgument  = &Error{Status: StatusInvalidArgument}
	ErrTimeout          = &Error{Status: StatusTimeout}
	ErrCrashed          = &Error{Status: StatusCrashed}
	ErrUnavailable      = &Error{Status: StatusUnavailable}
	ErrLocked           = &Error{Status: StatusLocked}
	ErrNotConfigurable  = &Error{Status: StatusNotConfigurable}
	ErrUnknownProvider  = &Error{Status: StatusUnknownProvider}
	ErrNoStore          = &Error{Status: StatusNoStore}
	ErrUnrepresentable  = &Error{Status: StatusUnrepresentable}
	ErrPermissionDenied = &Error{Status: StatusPermissionDenied}
	ErrBackend          = &Error{Status: StatusBackend}
	ErrConfig           = &Error{Status: StatusConfig}
	ErrIO               = &Error{Status: StatusIO}
	ErrInvalidUTF8      = &Error{Status: StatusInvalidUTF8}
	ErrNullArgument     = &Error{Status: StatusNullArgument}
	ErrPanic            = &Error{Status: StatusPanic}
	ErrClosed           = &Error{Status: statusClosed}
)
