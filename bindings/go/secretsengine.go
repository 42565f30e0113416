// Package secretsengine is the Go face of secrets-engine: resolve se:// references
// through the OS keychain, 1Password, vaults and your own providers, from a
// containerd shim or any Go program. It is a thin cgo layer over the C ABI
// (secrets_engine.h), found through pkg-config as `secrets_engine`.
//
// Install the C library first, then point pkg-config at it:
//
//	scripts/install --prefix $HOME/.local            # in a checkout of secrets-engine
//	export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig
//	go build ./...
//
// With both libraries installed, programs link the shared one (the .pc sets an
// rpath to its directory); `scripts/install --static` installs only the static
// library, and programs then link it into the binary.
//
// The Engine is safe for concurrent use. Secret values come back as []byte; call
// Envelope.Release (or Zero on the slices you hold) when done with them.
package secretsengine

/*
#cgo pkg-config: secrets_engine
#include <stdlib.h>
#include <string.h>
#include "secrets_engine.h"
int se_go_get_secrets(void *userdata, const char *pattern, se_results *results);
void se_go_free_userdata(void *userdata);
*/
import "C"

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Store selects where an engine writes secrets.
type Store int

const (
	// StoreAuto is the OS keychain when a Secret Service is reachable, else the file store.
	StoreAuto Store = C.SE_STORE_AUTO
	// StoreKeychain is the OS keychain.
	StoreKeychain Store = C.SE_STORE_KEYCHAIN
	// StoreFile is the age-encrypted file store.
	StoreFile Store = C.SE_STORE_FILE
	// StoreMemory is an in-memory store and no OS providers (embedding, tests).
	StoreMemory Store = C.SE_STORE_MEMORY
)

// Options configure New. The zero value means the defaults.
type Options struct {
	Store Store
	// ConfigPath keeps provider choices in this file ("" for the default location).
	ConfigPath string
	// NoConfig disables reading and writing provider choices.
	NoConfig bool
	// Deadline bounds each provider call (0 for 30 s).
	Deadline time.Duration
}

// Engine resolves secrets. Create with New, release with Close.
type Engine struct {
	mu  sync.RWMutex
	ptr *C.se_engine
}

// call runs f on a locked OS thread, so the thread-local last error read after a
// failure belongs to this call.
func call(f func() C.se_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	status := f()
	if status == C.SE_STATUS_OK {
		return nil
	}
	return &Error{Status: Status(status), Message: lastError()}
}

func lastError() string {
	n := C.se_last_error_length()
	buf := make([]byte, int(n)+1)
	var written C.size_t
	C.se_last_error_message((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &written)
	return string(buf[:written])
}

func cstring(s string) *C.char { return C.CString(s) }

// cstr converts s for C, refusing an embedded NUL (C would silently cut the string
// there: "a/b\x00x" would become "a/b").
func cstr(s, what string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Status: StatusInvalidArgument, Message: what + " contains a NUL byte"}
	}
	return C.CString(s), nil
}

// New creates an engine. With nil options it is the default engine, with the same
// providers and default store as docker-pass.
func New(opts *Options) (*Engine, error) {
	var copts *C.se_engine_options
	if opts != nil {
		copts = (*C.se_engine_options)(C.calloc(1, C.sizeof_se_engine_options))
		defer C.free(unsafe.Pointer(copts))
		copts.store = C.uint32_t(opts.Store)
		copts.no_config = C.bool(opts.NoConfig)
		copts.deadline_ms = C.uint32_t(opts.Deadline / time.Millisecond)
		if opts.ConfigPath != "" {
			p := cstring(opts.ConfigPath)
			defer C.free(unsafe.Pointer(p))
			copts.config_path = p
		}
	}
	e := &Engine{}
	if err := call(func() C.se_status { return C.se_engine_new(copts, &e.ptr) }); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(e, func(e *Engine) { e.Close() })
	return e, nil
}

// Close releases the engine. Calls after Close return ErrClosed.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ptr != nil {
		C.se_engine_free(e.ptr)
		e.ptr = nil
	}
	return nil
}

// with runs f with the engine pointer, holding a read lock so Close waits.
func (e *Engine) with(f func(*C.se_engine) C.se_status) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return ErrClosed
	}
	return call(func() C.se_status { return f(e.ptr) })
}

// Envelope is one resolved secret.
type Envelope struct {
	ID         string
	Value      []byte
	Provider   string
	Version    string
	ResolvedAt time.Time
	CreatedAt  time.Time // zero when unknown
	ExpiresAt  time.Time // zero when the backend does not say
	Metadata   map[string]string
}

// Release zeroes the secret bytes.
func (e *Envelope) Release() { Zero(e.Value) }

// Zero overwrites b with zeros.
func Zero(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

func millis(ms C.int64_t) time.Time {
	if ms < 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms))
}

func goBytes(ptr *C.uint8_t, n C.size_t) []byte {
	return copyBytes(unsafe.Pointer(ptr), uint64(n))
}

// copyBytes copies n bytes at p into Go memory. Sized by size_t, not C.int:
// C.GoBytes takes an int32 length, which cuts a value over 2 GiB (or panics on
// the negative length the cut gives).
func copyBytes(p unsafe.Pointer, n uint64) []byte {
	if n == 0 {
		return []byte{}
	}
	l := sliceLen(n)
	out := make([]byte, l)
	copy(out, unsafe.Slice((*byte)(p), l))
	return out
}

// sliceLen is n as a Go length, whole: a value the library holds fits in this
// process's address space, so only a corrupt length can fail here.
func sliceLen(n uint64) int {
	if n > uint64(maxLen) {
		panic("secretsengine: a length larger than this platform's address space")
	}
	return int(n)
}

// maxLen is the largest slice length on this platform.
const maxLen = int(^uint(0) >> 1)

// Failure is a provider that failed while others answered (a partial result).
type Failure struct {
	Provider string
	Message  string
}

func (e *Engine) getSecrets(pattern string) ([]Envelope, []Failure, error) {
	cp, err := cstr(pattern, "pattern")
	if err != nil {
		return nil, nil, err
	}
	defer C.free(unsafe.Pointer(cp))
	var list *C.se_envelope_list
	if err := e.with(func(p *C.se_engine) C.se_status { return C.se_engine_get_secrets(p, cp, &list) }); err != nil {
		return nil, nil, err
	}
	defer C.se_envelope_list_free(list)
	n := int(C.se_envelope_list_len(list))
	out := make([]Envelope, n)
	for i := 0; i < n; i++ {
		env := C.se_envelope_list_get(list, C.size_t(i))
		var ptr *C.uint8_t
		var size C.size_t
		C.se_envelope_value(env, &ptr, &size)
		out[i] = Envelope{
			ID:         C.GoString(C.se_envelope_id(env)),
			Value:      goBytes(ptr, size),
			Provider:   C.GoString(C.se_envelope_provider(env)),
			ResolvedAt: millis(C.se_envelope_resolved_at_ms(env)),
			CreatedAt:  millis(C.se_envelope_created_at_ms(env)),
			ExpiresAt:  millis(C.se_envelope_expires_at_ms(env)),
			Metadata:   map[string]string{},
		}
		if v := C.se_envelope_version(env); v != nil {
			out[i].Version = C.GoString(v)
		}
		for j := 0; j < int(C.se_envelope_metadata_len(env)); j++ {
			var k, v *C.char
			C.se_envelope_metadata_get(env, C.size_t(j), &k, &v)
			out[i].Metadata[C.GoString(k)] = C.GoString(v)
		}
	}
	failures := make([]Failure, int(C.se_envelope_list_failures_len(list)))
	for i := range failures {
		var p, m *C.char
		C.se_envelope_list_failure(list, C.size_t(i), &p, &m)
		failures[i] = Failure{Provider: C.GoString(p), Message: C.GoString(m)}
	}
	return out, failures, nil
}

type result[T any] struct {
	v   T
	err error
}

// await runs f in a goroutine and returns its result, or ctx's error when ctx ends
// first (the C call then finishes in the background; what it returns is released).
func await[T any](ctx context.Context, f func() (T, error), release func(T)) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	done := make(chan result[T], 1)
	go func() {
		v, err := f()
		done <- result[T]{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.err == nil && release != nil {
				release(r.v)
			}
		}()
		var zero T
		return zero, ctx.Err()
	}
}

func releaseAll(envs []Envelope) {
	for i := range envs {
		envs[i].Release()
	}
}

// GetSecrets returns every secret matching pattern from every enabled provider
// whose declared pattern overlaps it. Failures of providers beside found secrets are
// dropped here; see GetSecretsPartial.
//
// When ctx ends first, GetSecrets returns ctx.Err() at once; the call in the
// library cannot be interrupted and finishes in the background (bounded by the
// providers' deadline), releasing what it found. Until it does, Close waits for it.
func (e *Engine) GetSecrets(ctx context.Context, pattern string) ([]Envelope, error) {
	return await(ctx, func() ([]Envelope, error) {
		envs, _, err := e.getSecrets(pattern)
		return envs, err
	}, releaseAll)
}

// GetSecretsPartial is GetSecrets that also returns the providers that failed while
// others answered.
func (e *Engine) GetSecretsPartial(ctx context.Context, pattern string) ([]Envelope, []Failure, error) {
	type both struct {
		envs     []Envelope
		failures []Failure
	}
	r, err := await(ctx, func() (both, error) {
		envs, failures, err := e.getSecrets(pattern)
		return both{envs, failures}, err
	}, func(b both) { releaseAll(b.envs) })
	return r.envs, r.failures, err
}

// ResolveEnv resolves an env list such as an OCI process.env: every NAME=se://...
// value is replaced by its secret. In container mode an empty NAME= is looked up as
// the id NAME (left empty when absent). At most 256 distinct references; see
// ResolveEnvWith for an allow-list and other limits.
//
// The result is Go strings, which cannot be wiped: use ResolveEnvBytes where the
// values must not outlive their use.
func (e *Engine) ResolveEnv(env []string, containerMode bool) ([]string, error) {
	return e.ResolveEnvContext(context.Background(), env, containerMode)
}

// ResolveEnvContext is ResolveEnv honouring ctx.
func (e *Engine) ResolveEnvContext(ctx context.Context, env []string, containerMode bool) ([]string, error) {
	return e.ResolveEnvWith(ctx, env, ResolveEnvOptions{ContainerMode: containerMode})
}

// ResolveEnvOptions configure ResolveEnvWith and ResolveEnvBytes. The zero value is
// host mode with the defaults.
type ResolveEnvOptions struct {
	// ContainerMode looks an empty NAME= up as the id NAME.
	ContainerMode bool
	// Restrict resolves only references inside Allow: a reference is allowed when
	// one of the Allow patterns includes its whole pattern ("ci/**" includes
	// "ci/token" and "ci/*/key", not "**" or "*/token"). Any other fails the call
	// with ErrPermissionDenied naming its variable and is never looked up; in
	// container mode an empty NAME= outside is left empty. With Restrict and no
	// Allow pattern, every reference is refused.
	Restrict bool
	// Allow is the patterns references may ask for (used with Restrict).
	Allow []string
	// MaxReferences caps the distinct references (0 for 256); more fails with
	// ErrInvalidArgument before anything is looked up.
	MaxReferences int
	// MaxConcurrentLookups bounds the references handed to providers at once (0
	// for 32).
	MaxConcurrentLookups int
}

// ResolveEnvWith is ResolveEnvContext with options (an allow-list, limits).
func (e *Engine) ResolveEnvWith(ctx context.Context, env []string, opts ResolveEnvOptions) ([]string, error) {
	return await(ctx, func() ([]string, error) {
		raw, err := e.resolveEnv(env, opts)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(raw))
		for i, b := range raw {
			out[i] = string(b)
			Zero(b)
		}
		return out, nil
	}, nil)
}

// ResolveEnvBytes is ResolveEnvWith returning each NAME=VALUE entry as bytes copied
// straight from the library (never through a Go string), so the caller can wipe
// them with Zero once the environment is handed on. When ctx ends first, the
// entries resolved later are zeroed in the background.
func (e *Engine) ResolveEnvBytes(ctx context.Context, env []string, opts ResolveEnvOptions) ([][]byte, error) {
	return await(ctx, func() ([][]byte, error) { return e.resolveEnv(env, opts) }, func(entries [][]byte) {
		for _, b := range entries {
			Zero(b)
		}
	})
}

func (e *Engine) resolveEnv(env []string, opts ResolveEnvOptions) ([][]byte, error) {
	if opts.MaxReferences < 0 || opts.MaxConcurrentLookups < 0 ||
		uint64(opts.MaxReferences) > 1<<32-1 || uint64(opts.MaxConcurrentLookups) > 1<<32-1 {
		return nil, &Error{Status: StatusInvalidArgument, Message: "MaxReferences and MaxConcurrentLookups must be between 0 and 2^32-1"}
	}
	arr, free, err := cStrings(env, "an env entry")
	if err != nil {
		return nil, err
	}
	defer free()
	allow, freeAllow, err := cStrings(opts.Allow, "an allow pattern")
	if err != nil {
		return nil, err
	}
	defer freeAllow()
	copts := (*C.se_env_options)(C.calloc(1, C.sizeof_se_env_options))
	defer C.free(unsafe.Pointer(copts))
	if opts.ContainerMode {
		copts.flags |= C.SE_ENV_CONTAINER_MODE
	}
	if opts.Restrict {
		copts.flags |= C.SE_ENV_RESTRICT
		copts.allow = allow
		copts.allow_len = C.size_t(len(opts.Allow))
	}
	copts.max_references = C.uint32_t(opts.MaxReferences)
	copts.max_concurrent_lookups = C.uint32_t(opts.MaxConcurrentLookups)
	var out *C.se_string_list
	if err := e.with(func(p *C.se_engine) C.se_status {
		return C.se_engine_resolve_env_with(p, arr, C.size_t(len(env)), copts, &out)
	}); err != nil {
		return nil, err
	}
	defer C.se_string_list_free(out)
	res := make([][]byte, int(C.se_string_list_len(out)))
	for i := range res {
		s := C.se_string_list_get(out, C.size_t(i))
		res[i] = copyBytes(unsafe.Pointer(s), uint64(C.strlen(s)))
	}
	return res, nil
}

// cStrings copies ss into a C array of C strings (never NULL itself), refusing an
// embedded NUL; free releases both.
func cStrings(ss []string, what string) (**C.char, func(), error) {
	n := len(ss)
	base := C.calloc(C.size_t(n+1), C.size_t(unsafe.Sizeof((*C.char)(nil))))
	arr := unsafe.Slice((**C.char)(base), n+1)
	free := func() {
		for _, p := range arr[:n] {
			C.free(unsafe.Pointer(p))
		}
		C.free(base)
	}
	for i, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			free()
			return nil, nil, &Error{Status: StatusInvalidArgument, Message: what + " contains a NUL byte"}
		}
		arr[i] = cstring(s)
	}
	return (**C.char)(base), free, nil
}

func stringList(l *C.se_string_list) []string {
	res := make([]string, int(C.se_string_list_len(l)))
	for i := range res {
		res[i] = C.GoString(C.se_string_list_get(l, C.size_t(i)))
	}
	return res
}

// Set stores value under id in the default store.
func (e *Engine) Set(id string, value []byte) error {
	return e.SetWithMetadata(id, value, nil)
}

// SetWithMetadata stores value and non-secret metadata under id.
func (e *Engine) SetWithMetadata(id string, value []byte, metadata map[string]string) error {
	cid, err := cstr(id, "id")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cid))
	for k, v := range metadata {
		if strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
			return &Error{Status: StatusInvalidArgument, Message: "metadata contains a NUL byte"}
		}
	}
	var ptr *C.uint8_t
	if len(value) > 0 {
		cval := C.CBytes(value)
		defer func() {
			C.memset(cval, 0, C.size_t(len(value)))
			C.free(cval)
		}()
		ptr = (*C.uint8_t)(cval)
	}
	n := len(metadata)
	keys := make([]*C.char, 0, n+1)
	vals := make([]*C.char, 0, n+1)
	for k, v := range metadata {
		keys = append(keys, cstring(k))
		vals = append(vals, cstring(v))
	}
	defer func() {
		for i := range keys {
			C.free(unsafe.Pointer(keys[i]))
			C.free(unsafe.Pointer(vals[i]))
		}
	}()
	var kp, vp **C.char
	if n > 0 {
		ck := (*[1 << 28]*C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.char)(nil)))))[:n:n]
		cv := (*[1 << 28]*C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.char)(nil)))))[:n:n]
		defer C.free(unsafe.Pointer(&ck[0]))
		defer C.free(unsafe.Pointer(&cv[0]))
		copy(ck, keys)
		copy(cv, vals)
		kp, vp = &ck[0], &cv[0]
	}
	return e.with(func(p *C.se_engine) C.se_status {
		return C.se_engine_set_secret_with_metadata(p, cid, ptr, C.size_t(len(value)), kp, vp, C.size_t(n))
	})
}

// Remove deletes id from the default store (ErrNotFound when absent).
func (e *Engine) Remove(id string) error {
	cid, err := cstr(id, "id")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cid))
	return e.with(func(p *C.se_engine) C.se_status { return C.se_engine_remove_secret(p, cid) })
}

// List returns the ids in the default store matching pattern ("" for all), sorted.
func (e *Engine) List(pattern string) ([]string, error) {
	var cp *C.char
	if pattern != "" {
		var err error
		if cp, err = cstr(pattern, "pattern"); err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cp))
	}
	var out *C.se_string_list
	if err := e.with(func(p *C.se_engine) C.se_status { return C.se_engine_list_secrets(p, cp, &out) }); err != nil {
		return nil, err
	}
	defer C.se_string_list_free(out)
	return stringList(out), nil
}

// PluginState is a provider's state.
type PluginState int

const (
	// PluginRunning answers lookups.
	PluginRunning PluginState = C.SE_PLUGIN_RUNNING
	// PluginDisabled was turned off by the user.
	PluginDisabled PluginState = C.SE_PLUGIN_DISABLED
	// PluginCrashed stopped after a fatal error; Message says why.
	PluginCrashed PluginState = C.SE_PLUGIN_CRASHED
	// PluginLocked is running but locked (the file store with no passphrase):
	// lookups of ids it holds fail with ErrLocked until it is unlocked.
	PluginLocked PluginState = C.SE_PLUGIN_LOCKED
)

// Plugin describes one provider.
type Plugin struct {
	Name         string
	Pattern      string
	Configurable bool
	State        PluginState
	Message      string
}

// Plugins lists every provider in registration order.
func (e *Engine) Plugins() ([]Plugin, error) {
	var list *C.se_plugin_list
	if err := e.with(func(p *C.se_engine) C.se_status { return C.se_engine_plugins(p, &list) }); err != nil {
		return nil, err
	}
	defer C.se_plugin_list_free(list)
	out := make([]Plugin, int(C.se_plugin_list_len(list)))
	for i := range out {
		p := C.se_plugin_list_get(list, C.size_t(i))
		out[i] = Plugin{
			Name:         C.GoString(C.se_plugin_name(p)),
			Pattern:      C.GoString(C.se_plugin_pattern(p)),
			Configurable: bool(C.se_plugin_configurable(p)),
			State:        PluginState(C.se_plugin_get_state(p)),
		}
		if m := C.se_plugin_message(p); m != nil {
			out[i].Message = C.GoString(m)
		}
	}
	return out, nil
}

// Enable enables a configurable provider (re-initialising a crashed one).
func (e *Engine) Enable(name string) error {
	cn, err := cstr(name, "name")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cn))
	return e.with(func(p *C.se_engine) C.se_status { return C.se_engine_enable_plugin(p, cn) })
}

// Disable disables a configurable provider.
func (e *Engine) Disable(name string) error {
	cn, err := cstr(name, "name")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cn))
	return e.with(func(p *C.se_engine) C.se_status { return C.se_engine_disable_plugin(p, cn) })
}

// IDIsValid reports whether id follows the id grammar.
func IDIsValid(id string) bool {
	c := cstring(id)
	defer C.free(unsafe.Pointer(c))
	return bool(C.se_id_is_valid(c))
}

// PatternIsValid reports whether pattern follows the pattern grammar.
func PatternIsValid(pattern string) bool {
	c := cstring(pattern)
	defer C.free(unsafe.Pointer(c))
	return bool(C.se_pattern_is_valid(c))
}

// PatternMatches reports whether pattern matches id (false when either is invalid).
func PatternMatches(pattern, id string) bool {
	cp, ci := cstring(pattern), cstring(id)
	defer C.free(unsafe.Pointer(cp))
	defer C.free(unsafe.Pointer(ci))
	return bool(C.se_pattern_matches(cp, ci))
}

// Version is the library version.
func Version() string { return C.GoString(C.se_version()) }
