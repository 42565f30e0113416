package secretsengine

// ResolveEnvContext, and what a call abandoned through its context leaves behind:
// the caller gets ctx.Err() at once; the call in the library runs on to its end (a
// provider cannot be interrupted); Close waits for it; nothing is left running once
// it is done.

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"
)

// cancelHeldProvider answers held/x once released; it records whether Close had
// already returned when it was released.
type cancelHeldProvider struct {
	entered chan struct{}
	release chan struct{}
	closed  chan struct{}

	mu                 sync.Mutex
	calls, done        int
	closedBeforeReturn bool
}

func newCancelHeldProvider() *cancelHeldProvider {
	return &cancelHeldProvider{entered: make(chan struct{}, 64), release: make(chan struct{}), closed: make(chan struct{})}
}

func (p *cancelHeldProvider) GetSecrets(pattern string) ([]Secret, error) {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	p.entered <- struct{}{}
	<-p.release
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	select {
	case <-p.closed:
		p.closedBeforeReturn = true
	default:
	}
	if !PatternMatches(pattern, "held/x") {
		return nil, nil
	}
	return []Secret{{ID: "held/x", Value: []byte("late")}}, nil
}

func cancelTestEngine(t *testing.T, p *cancelHeldProvider) *Engine {
	t.Helper()
	e, err := New(&Options{Store: StoreMemory, NoConfig: true, Deadline: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.RegisterProvider("held", "held/**", p); err != nil {
		t.Fatal(err)
	}
	if err := e.Set("mem/token", []byte("now")); err != nil {
		t.Fatal(err)
	}
	if err := e.Set("TOKEN", []byte("container")); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestResolveEnvContext(t *testing.T) {
	p := newCancelHeldProvider()
	close(p.release)
	e := cancelTestEngine(t, p)
	out, err := e.ResolveEnvContext(context.Background(), []string{"A=se://mem/token", "B=plain", "C=se://held/x"}, false)
	if err != nil || !reflect.DeepEqual(out, []string{"A=now", "B=plain", "C=late"}) {
		t.Fatalf("%q %v", out, err)
	}
	// Container mode: an empty NAME= is looked up as the id NAME.
	out, err = e.ResolveEnvContext(context.Background(), []string{"TOKEN=", "EMPTY="}, true)
	if err != nil || !reflect.DeepEqual(out, []string{"TOKEN=container", "EMPTY="}) {
		t.Fatalf("%q %v", out, err)
	}
	// Errors come back typed, as from ResolveEnv.
	if _, err := e.ResolveEnvContext(context.Background(), []string{"A=se://mem/missing"}, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
	// Already cancelled: no call at all.
	p.mu.Lock()
	calls := p.calls
	p.mu.Unlock()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if out, err := e.ResolveEnvContext(done, []string{"C=se://held/x"}, false); !errors.Is(err, context.Canceled) || out != nil {
		t.Fatalf("%q %v", out, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls != calls {
		t.Fatalf("the provider was asked for a cancelled call")
	}
}

func TestCancelledResolveEnvContextLeavesNothingBehind(t *testing.T) {
	baseline := runtime.NumGoroutine()
	p := newCancelHeldProvider()
	e, err := New(&Options{Store: StoreMemory, NoConfig: true, Deadline: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RegisterProvider("held", "held/**", p); err != nil {
		t.Fatal(err)
	}
	e.Set("mem/token", []byte("now"))

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-p.entered
		cancel()
	}()
	start := time.Now()
	out, err := e.ResolveEnvContext(ctx, []string{"C=se://held/x"}, false)
	if !errors.Is(err, context.Canceled) || out != nil {
		t.Fatalf("%q %v", out, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("cancellation took %v", time.Since(start))
	}
	// The abandoned call is still inside the provider, and the engine answers
	// other calls meanwhile.
	p.mu.Lock()
	if p.calls != 1 || p.done != 0 {
		t.Fatalf("calls %d, done %d", p.calls, p.done)
	}
	p.mu.Unlock()
	if out, err := e.ResolveEnvContext(context.Background(), []string{"A=se://mem/token"}, false); err != nil || out[0] != "A=now" {
		t.Fatalf("%q %v", out, err)
	}

	// Close waits for the abandoned call: released only after a moment (so a Close
	// that did not wait would have returned by then), the provider must find Close
	// still waiting.
	go func() {
		e.Close()
		close(p.closed)
	}()
	time.Sleep(200 * time.Millisecond)
	close(p.release)
	select {
	case <-p.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the abandoned call finished")
	}
	p.mu.Lock()
	if p.done != 1 || p.closedBeforeReturn {
		t.Fatalf("done %d, Close returned before the call did: %v", p.done, p.closedBeforeReturn)
	}
	p.mu.Unlock()
	if _, err := e.ResolveEnvContext(context.Background(), []string{"A=se://mem/token"}, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}

	// No goroutine of the call is left: await's background receiver ended with it.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
