package secretsengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func memoryEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := New(&Options{Store: StoreMemory, NoConfig: true, Deadline: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestSetGetListRemove(t *testing.T) {
	e := memoryEngine(t)
	bin := []byte{0, 1, 0xff, 0}
	if err := e.Set("db/password", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	if err := e.Set("db/binary", bin); err != nil {
		t.Fatal(err)
	}
	if err := e.SetWithMetadata("db/meta", []byte("m"), map[string]string{"user": "app"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Set("db/empty", nil); err != nil {
		t.Fatal(err)
	}
	envs, err := e.GetSecrets(context.Background(), "db/*")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, env := range envs {
		ids = append(ids, env.ID)
		if env.Provider != "memory" || env.ResolvedAt.IsZero() || !env.CreatedAt.IsZero() {
			t.Errorf("%+v", env)
		}
	}
	if strings.Join(ids, ",") != "db/binary,db/empty,db/meta,db/password" {
		t.Fatalf("ids %v", ids)
	}
	if !bytes.Equal(envs[0].Value, bin) || len(envs[1].Value) != 0 || string(envs[3].Value) != "s3cret" {
		t.Fatalf("values %q", envs)
	}
	if envs[2].Metadata["user"] != "app" {
		t.Fatalf("metadata %v", envs[2].Metadata)
	}
	envs[3].Release()
	if !bytes.Equal(envs[3].Value, make([]byte, 6)) {
		t.Fatal("Release did not zero the value")
	}
	list, err := e.List("")
	if err != nil || strings.Join(list, ",") != "db/binary,db/empty,db/meta,db/password" {
		t.Fatalf("list %v %v", list, err)
	}
	if err := e.Remove("db/empty"); err != nil {
		t.Fatal(err)
	}
	if err := e.Remove("db/empty"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestErrorsAreTyped(t *testing.T) {
	e := memoryEngine(t)
	_, err := e.GetSecrets(context.Background(), "nothing/here")
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoProvider) {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(err.Error(), "nothing/here") {
		t.Fatalf("message %q", err)
	}
	_, err = e.GetSecrets(context.Background(), "a//b")
	var se *Error
	if !errors.As(err, &se) || se.Status != StatusInvalidPattern || !strings.Contains(se.Message, "component 1") {
		t.Fatalf("%v", err)
	}
	if err := e.Set("bad id", []byte("x")); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("%v", err)
	}
	if _, err := e.ResolveEnv([]string{"X=se://a b"}, false); !errors.Is(err, ErrInvalidReference) {
		t.Fatalf("%v", err)
	}
	if _, err := e.ResolveEnv([]string{"NOEQUALS"}, false); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("%v", err)
	}
	if err := e.Disable("memory"); !errors.Is(err, ErrNotConfigurable) {
		t.Fatalf("%v", err)
	}
	if err := e.Enable("nope"); !errors.Is(err, ErrUnknownProvider) {
		t.Fatalf("%v", err)
	}
	e.Close()
	if _, err := e.List(""); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestResolveEnv(t *testing.T) {
	e := memoryEngine(t)
	e.Set("gh/token", []byte("ghp_abc"))
	e.Set("GH_TOKEN", []byte("by-name"))
	env := []string{"PATH=/bin", "TOKEN=se://gh/token", "GH_TOKEN=", "MISSING="}
	out, err := e.ResolveEnv(env, false)
	if err != nil || strings.Join(out, "|") != "PATH=/bin|TOKEN=ghp_abc|GH_TOKEN=|MISSING=" {
		t.Fatalf("%v %v", out, err)
	}
	out, err = e.ResolveEnv(env, true)
	if err != nil || out[2] != "GH_TOKEN=by-name" || out[3] != "MISSING=" {
		t.Fatalf("container mode %v %v", out, err)
	}
	if _, err := e.ResolveEnv([]string{"A=se://missing/x"}, false); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "A: no secret matches missing/x") {
		t.Fatalf("%v", err)
	}
	if out, err := e.ResolveEnv(nil, false); err != nil || len(out) != 0 {
		t.Fatalf("%v %v", out, err)
	}
}

type mapProvider struct {
	mu      sync.Mutex
	secrets map[string]string
	calls   int
	fail    error
	block   chan struct{}
}

func (m *mapProvider) GetSecrets(pattern string) ([]Secret, error) {
	m.mu.Lock()
	m.calls++
	block, fail := m.block, m.fail
	m.mu.Unlock()
	if block != nil {
		<-block
	}
	if fail != nil {
		return nil, fail
	}
	var out []Secret
	for id, v := range m.secrets {
		if PatternMatches(pattern, id) {
			out = append(out, Secret{ID: id, Value: []byte(v)})
		}
	}
	return out, nil
}

func TestGoProvider(t *testing.T) {
	e := memoryEngine(t)
	p := &mapProvider{secrets: map[string]string{"rt/a": "one", "rt/b": "two"}}
	if err := e.RegisterProvider("runtime", "rt/**", p); err != nil {
		t.Fatal(err)
	}
	if err := e.RegisterProvider("runtime", "rt/**", p); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("duplicate name: %v", err)
	}
	envs, err := e.GetSecrets(context.Background(), "rt/*")
	if err != nil || len(envs) != 2 || envs[0].ID != "rt/a" || envs[0].Provider != "runtime" || string(envs[1].Value) != "two" {
		t.Fatalf("%+v %v", envs, err)
	}
	// Not asked when its pattern does not overlap.
	calls := p.calls
	e.GetSecrets(context.Background(), "other/x")
	if p.calls != calls {
		t.Fatal("provider asked outside its pattern")
	}
	plugins, err := e.Plugins()
	if err != nil || len(plugins) != 2 || plugins[1].Name != "runtime" || !plugins[1].Configurable || plugins[1].State != PluginRunning {
		t.Fatalf("%+v %v", plugins, err)
	}
	if err := e.Disable("runtime"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GetSecrets(context.Background(), "rt/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("disabled: %v", err)
	}
	if err := e.Enable("runtime"); err != nil {
		t.Fatal(err)
	}
	// A failing provider is reported by name, with its message.
	p.mu.Lock()
	p.fail = fmt.Errorf("backend down")
	p.mu.Unlock()
	_, err = e.GetSecrets(context.Background(), "rt/a")
	if !errors.Is(err, ErrProviderFailed) || !strings.Contains(err.Error(), "runtime") || !strings.Contains(err.Error(), "backend down") {
		t.Fatalf("%v", err)
	}
	// Partial results carry the failure beside what was found.
	e.Set("rt/a", []byte("mem"))
	envs, failures, err := e.GetSecretsPartial(context.Background(), "rt/a")
	if err != nil || len(envs) != 1 || len(failures) != 1 || failures[0].Provider != "runtime" {
		t.Fatalf("%+v %+v %v", envs, failures, err)
	}
}

func TestContextCancellation(t *testing.T) {
	// A deadline far past the bound below, so that meeting the bound means the call
	// was abandoned at the context's end, not waited for.
	e, err := New(&Options{Store: StoreMemory, NoConfig: true, Deadline: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	p := &mapProvider{secrets: map[string]string{"slow/x": "v"}, block: make(chan struct{})}
	if err := e.RegisterProvider("slow", "slow/**", p); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = e.GetSecrets(ctx, "slow/x")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
	close(p.block)
	// Already cancelled: no call at all.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := e.GetSecrets(done, "slow/x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("%v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := memoryEngine(t)
	for i := 0; i < 8; i++ {
		e.Set(fmt.Sprintf("c/%d", i), []byte(fmt.Sprintf("v%d", i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := fmt.Sprintf("c/%d", (g+i)%8)
				envs, err := e.GetSecrets(context.Background(), id)
				if err != nil || len(envs) != 1 || string(envs[0].Value) != "v"+id[2:] {
					errs <- fmt.Errorf("%s: %v %v", id, envs, err)
					return
				}
				if _, err := e.GetSecrets(context.Background(), "missing/x"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "missing/x") {
					errs <- fmt.Errorf("per-thread error lost: %v", err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestValidation(t *testing.T) {
	if !IDIsValid("docker/auth/hub") || IDIsValid("a//b") || IDIsValid("") {
		t.Fatal("IDIsValid")
	}
	if !PatternIsValid("a/**") || PatternIsValid("a*") {
		t.Fatal("PatternIsValid")
	}
	if !PatternMatches("docker/*/alice", "docker/hub/alice") || PatternMatches("docker/*", "docker/hub/alice") {
		t.Fatal("PatternMatches")
	}
	if Version() == "" {
		t.Fatal("Version")
	}
}

// The default engine, as docker-pass has it, against the real keychain of the test
// run (scripts/test-go sets DBUS_SESSION_BUS_ADDRESS to a private gnome-keyring).
func TestDefaultEngineOnTheKeychain(t *testing.T) {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		t.Fatal("DBUS_SESSION_BUS_ADDRESS is not set: run through scripts/test-go")
	}
	e, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	plugins, err := e.Plugins()
	if err != nil || plugins[0].Name != "docker-pass" || plugins[0].Configurable {
		t.Fatalf("%+v %v", plugins, err)
	}
	if err := e.Set("gotest/token", []byte("from-go")); err != nil {
		t.Fatal(err)
	}
	defer e.Remove("gotest/token")
	out, err := e.ResolveEnv([]string{"T=se://gotest/token"}, false)
	if err != nil || out[0] != "T=from-go" {
		t.Fatalf("%v %v", out, err)
	}
}

func TestNulBytesAreRefusedNotTruncated(t *testing.T) {
	e := memoryEngine(t)
	if err := e.Set("a/b\x00evil", []byte("v")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("%v", err)
	}
	if _, err := e.List(""); err != nil {
		t.Fatal(err)
	}
	if ids, _ := e.List(""); len(ids) != 0 {
		t.Fatalf("stored %v", ids)
	}
	if _, err := e.GetSecrets(context.Background(), "a\x00b"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("%v", err)
	}
	if _, err := e.ResolveEnv([]string{"A=se://x\x00y"}, false); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("%v", err)
	}
	if err := e.RegisterProvider("x\x00", "**", &mapProvider{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("%v", err)
	}
}

type panicky struct{}

func (panicky) GetSecrets(string) ([]Secret, error) { panic("provider bug") }

func TestPanickingProviderIsAFailureNotACrash(t *testing.T) {
	e := memoryEngine(t)
	if err := e.RegisterProvider("panicky", "p/**", panicky{}); err != nil {
		t.Fatal(err)
	}
	_, err := e.GetSecrets(context.Background(), "p/x")
	if !errors.Is(err, ErrProviderFailed) || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("%v", err)
	}
}

func TestTimeoutIsTyped(t *testing.T) {
	e, err := New(&Options{Store: StoreMemory, NoConfig: true, Deadline: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	block := make(chan struct{})
	defer close(block)
	if err := e.RegisterProvider("slow", "slow/**", &mapProvider{block: block}); err != nil {
		t.Fatal(err)
	}
	_, err = e.GetSecrets(context.Background(), "slow/x")
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "slow") {
		t.Fatalf("%v", err)
	}
}
