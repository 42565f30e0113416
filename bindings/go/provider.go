package secretsengine

/*
#include <stdlib.h>
#include <stdint.h>
#include "secrets_engine.h"
int se_go_get_secrets(void *userdata, const char *pattern, se_results *results);
void se_go_free_userdata(void *userdata);
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"
)

// liveProviders maps each provider handle not yet released to its provider, so a
// test can tell that none leaks.
var liveProviders sync.Map

// Secret is what a Go provider returns for one id.
type Secret struct {
	ID    string
	Value []byte
}

// Provider is a secrets backend written in Go (a runtime's own store, a remote
// service). GetSecrets returns every secret whose id matches pattern (use
// PatternMatches); it is called from engine worker threads, possibly concurrently,
// and must not call back into the engine. The error's text is shown to users: never
// put a secret value in it. A panic is recovered and reported as a failure.
type Provider interface {
	GetSecrets(pattern string) ([]Secret, error)
}

// RegisterProvider adds p to the engine under name, serving ids matching pattern.
// It is configurable and enabled.
func (e *Engine) RegisterProvider(name, pattern string, p Provider) error {
	if strings.IndexByte(name, 0) >= 0 || strings.IndexByte(pattern, 0) >= 0 {
		return &Error{Status: StatusInvalidArgument, Message: "name or pattern contains a NUL byte"}
	}
	h := cgo.NewHandle(p)
	liveProviders.Store(h, p)
	// The handle travels through C as a pointer to C memory holding it, so no Go
	// pointer is ever stored by C.
	slot := (*C.uintptr_t)(C.malloc(C.size_t(unsafe.Sizeof(C.uintptr_t(0)))))
	*slot = C.uintptr_t(h)
	cn, cp := cstring(name), cstring(pattern)
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(cp))
	callbacks := (*C.se_provider_callbacks)(C.calloc(1, C.sizeof_se_provider_callbacks))
	defer C.free(unsafe.Pointer(callbacks))
	callbacks.get_secrets = (*[0]byte)(C.se_go_get_secrets)
	callbacks.free_userdata = (*[0]byte)(C.se_go_free_userdata)
	// Once the C call runs, the engine owns the slot: it calls free_userdata even on
	// failure. On a closed engine it never runs, so the slot is released here.
	called := false
	err := e.with(func(ptr *C.se_engine) C.se_status {
		called = true
		return C.se_engine_register_provider(ptr, cn, cp, callbacks, unsafe.Pointer(slot))
	})
	if !called {
		releaseSlot(unsafe.Pointer(slot))
	}
	return err
}

// releaseSlot deletes the handle in userdata and frees the C memory holding it.
func releaseSlot(userdata unsafe.Pointer) {
	h := handleOf(userdata)
	liveProviders.Delete(h)
	h.Delete()
	C.free(userdata)
}

func handleOf(userdata unsafe.Pointer) cgo.Handle {
	return cgo.Handle(*(*C.uintptr_t)(userdata))
}

func fail(results *C.se_results, message string, code C.int) C.int {
	msg := cstring(strings.ReplaceAll(message, "\x00", " "))
	defer C.free(unsafe.Pointer(msg))
	C.se_results_set_error(results, msg)
	return code
}

//export goGetSecrets
func goGetSecrets(userdata unsafe.Pointer, pattern *C.char, results *C.se_results) (rc C.int) {
	// A panic must not cross into C (it would abort the process).
	defer func() {
		if r := recover(); r != nil {
			rc = fail(results, fmt.Sprintf("the Go provider panicked: %T", r), 3)
		}
	}()
	p := handleOf(userdata).Value().(Provider)
	secrets, err := p.GetSecrets(C.GoString(pattern))
	if err != nil {
		return fail(results, err.Error(), 1)
	}
	for _, s := range secrets {
		if strings.IndexByte(s.ID, 0) >= 0 {
			return fail(results, "provider returned an id with a NUL byte", 2)
		}
		id := cstring(s.ID)
		var ptr *C.uint8_t
		if len(s.Value) > 0 {
			ptr = (*C.uint8_t)(unsafe.Pointer(&s.Value[0]))
		}
		status := C.se_results_add(results, id, ptr, C.size_t(len(s.Value)))
		C.free(unsafe.Pointer(id))
		if status != C.SE_STATUS_OK {
			return fail(results, "provider returned an invalid id", 2)
		}
	}
	return 0
}

//export goFreeUserdata
func goFreeUserdata(userdata unsafe.Pointer) {
	releaseSlot(userdata)
}
