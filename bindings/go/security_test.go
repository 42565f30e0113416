package secretsengine

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"unsafe"
)

func TestRegisterProviderOnAClosedEngineReleasesItsHandle(t *testing.T) {
	e := memoryEngine(t)
	e.Close()
	p := &mapProvider{}
	if err := e.RegisterProvider("late", "late/**", p); !errors.Is(err, ErrClosed) {
		t.Fatalf("%v", err)
	}
	liveProviders.Range(func(_, v any) bool {
		if v == Provider(p) {
			t.Fatal("the handle of a provider an engine never took is still live")
		}
		return true
	})
	// And one the engine took is released when the engine is freed.
	e2 := memoryEngine(t)
	p2 := &mapProvider{}
	if err := e2.RegisterProvider("taken", "taken/**", p2); err != nil {
		t.Fatal(err)
	}
	held := func() (found bool) {
		liveProviders.Range(func(_, v any) bool {
			found = found || v == Provider(p2)
			return true
		})
		return
	}
	if !held() {
		t.Fatal("a registered provider's handle is not tracked")
	}
	e2.Close()
	if held() {
		t.Fatal("the engine was freed but the provider's handle is still live")
	}
}

func TestLengthsOver2GiBAreNotCut(t *testing.T) {
	// C.GoBytes takes a C int: 2 GiB + 3 became a negative length. Copying that
	// much would cost gigabytes under the race detector, so the length conversion
	// copyBytes uses is checked on its own, and the copy on a small value.
	const big = uint64(1)<<31 + 3
	if unsafe.Sizeof(uintptr(0)) == 8 && sliceLen(big) != int(big) {
		t.Fatalf("sliceLen(%d) = %d", big, sliceLen(big))
	}
	if n := uint64(big); int32(uint32(n)) >= 0 {
		t.Fatal("the old conversion would not have cut this length; the check is moot")
	}
	src := []byte("value\x00with\xffbytes")
	got := copyBytes(unsafe.Pointer(&src[0]), uint64(len(src)))
	if !bytes.Equal(got, src) || &got[0] == &src[0] {
		t.Fatalf("%q", got)
	}
	if len(copyBytes(nil, 0)) != 0 {
		t.Fatal("empty")
	}
}

func TestResolveEnvWithAnAllowListAndLimits(t *testing.T) {
	e := memoryEngine(t)
	e.Set("ci/token", []byte("ci-value"))
	e.Set("prod/db", []byte("prod-value"))
	ctx := context.Background()
	ci := ResolveEnvOptions{Restrict: true, Allow: []string{"ci/**"}}
	out, err := e.ResolveEnvWith(ctx, []string{"A=se://ci/token", "P=/bin"}, ci)
	if err != nil || strings.Join(out, "|") != "A=ci-value|P=/bin" {
		t.Fatalf("%v %v", out, err)
	}
	_, err = e.ResolveEnvWith(ctx, []string{"A=se://ci/token", "B=se://prod/db"}, ci)
	if !errors.Is(err, ErrPermissionDenied) || !strings.Contains(err.Error(), "B: se://prod/db") {
		t.Fatalf("%v", err)
	}
	// Restrict with no pattern refuses every reference; without Restrict, Allow is unused.
	if _, err := e.ResolveEnvWith(ctx, []string{"A=se://ci/token"}, ResolveEnvOptions{Restrict: true}); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("%v", err)
	}
	if _, err := e.ResolveEnvWith(ctx, []string{"B=se://prod/db"}, ResolveEnvOptions{Allow: []string{"ci/**"}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.ResolveEnvWith(ctx, []string{"A=se://ci/token", "B=se://prod/db"}, ResolveEnvOptions{MaxReferences: 1})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "more than 1") {
		t.Fatalf("%v", err)
	}
	if _, err := e.ResolveEnvWith(ctx, nil, ResolveEnvOptions{Restrict: true, Allow: []string{"bad//pattern"}}); err == nil {
		t.Fatal("a bad allow pattern was accepted")
	}
	if _, err := e.ResolveEnvWith(ctx, nil, ResolveEnvOptions{MaxReferences: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("%v", err)
	}
}

func TestResolveEnvBytesCanBeZeroed(t *testing.T) {
	e := memoryEngine(t)
	e.Set("db/password", []byte("s3cret"))
	out, err := e.ResolveEnvBytes(context.Background(), []string{"DB=se://db/password", "HOME=/root"}, ResolveEnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || string(out[0]) != "DB=s3cret" || string(out[1]) != "HOME=/root" {
		t.Fatalf("%q", out)
	}
	for _, b := range out {
		Zero(b)
	}
	if !bytes.Equal(out[0], make([]byte, len("DB=s3cret"))) {
		t.Fatalf("%q", out[0])
	}
}
