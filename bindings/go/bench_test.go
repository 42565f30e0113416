package secretsengine

import (
	"context"
	"testing"
)

// BenchmarkGetSecrets is one in-memory lookup through the Go binding, to compare
// with the Rust and C rows of scripts/bench-bindings.
func BenchmarkGetSecrets(b *testing.B) {
	e, err := New(&Options{Store: StoreMemory, NoConfig: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	e.Set("bench/secret", []byte("value"))
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		envs, err := e.GetSecrets(ctx, "bench/secret")
		if err != nil || len(envs) != 1 {
			b.Fatal(err)
		}
	}
}
