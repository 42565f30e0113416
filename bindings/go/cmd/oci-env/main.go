// Command oci-env plays the part of a container runtime: it reads an OCI runtime
// config.json, resolves the se:// references in process.env through the default
// engine (the OS keychain) plus a provider of the runtime's own, and writes the
// config back. Container mode is on: an empty NAME= asks for the secret named NAME.
//
//	oci-env [--allow PATTERN]... path/to/config.json
//
// Only references inside an --allow pattern are resolved. process.env mixes what
// the user asked for (docker run -e) with the image's own ENV, and oci-env cannot
// tell them apart: without a limit an image could name any of the user's secrets
// and receive it. So with no --allow every reference is refused (the config is
// left untouched and the error names the variable), a reference outside every
// --allow pattern is refused the same way, and an empty NAME= outside them stays
// empty. A pattern allows a reference when it includes the reference's whole
// pattern: --allow 'ci/**' allows se://ci/token and se://ci/*/key, not se://**.
// The engine's internal realm (docker/secrets-engine/**) is never resolved, and at
// most 256 distinct references are.
//
// This is the rule se-runc (examples/se-runc) applies where it has no dockerd to ask
// which variables the image set. se-runc is the runtime to use with Docker: it asks
// dockerd, resolves the user's references without an --allow, and leaves the
// image's as written instead of failing. oci-env stays as the Go bindings' example.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	secretsengine "github.com/secrets-engine/secrets-engine/bindings/go"
)

// runtimeSecrets is the runtime's own provider: secrets it was handed for this
// container (here from RUNTIME_SECRET_* variables of the runtime process).
type runtimeSecrets struct{}

func (runtimeSecrets) GetSecrets(pattern string) ([]secretsengine.Secret, error) {
	var out []secretsengine.Secret
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		suffix, ok := strings.CutPrefix(name, "RUNTIME_SECRET_")
		if !ok {
			continue
		}
		id := "runtime/" + strings.ToLower(suffix)
		if secretsengine.PatternMatches(pattern, id) {
			out = append(out, secretsengine.Secret{ID: id, Value: []byte(value)})
		}
	}
	return out, nil
}

// patterns is a repeatable --allow flag.
type patterns []string

func (p *patterns) String() string { return strings.Join(*p, ",") }

func (p *patterns) Set(v string) error {
	if !secretsengine.PatternIsValid(v) {
		return fmt.Errorf("%q is not a valid pattern", v)
	}
	*p = append(*p, v)
	return nil
}

// run resolves the config at path, resolving only references inside allow.
func run(path string, allow []string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// Keep every field of the config; only process.env changes.
	var config map[string]json.RawMessage
	if err := json.Unmarshal(raw, &config); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var process map[string]json.RawMessage
	if err := json.Unmarshal(config["process"], &process); err != nil {
		return fmt.Errorf("%s: process: %w", path, err)
	}
	var env []string
	if e, ok := process["env"]; ok {
		if err := json.Unmarshal(e, &env); err != nil {
			return fmt.Errorf("%s: process.env: %w", path, err)
		}
	}
	engine, err := secretsengine.New(nil)
	if err != nil {
		return err
	}
	defer engine.Close()
	if err := engine.RegisterProvider("runtime", "runtime/**", runtimeSecrets{}); err != nil {
		return err
	}
	opts := secretsengine.ResolveEnvOptions{ContainerMode: true, Restrict: true, Allow: allow}
	// Strings, not ResolveEnvBytes: the JSON encoder copies every value into
	// buffers of its own anyway, and the file written holds them.
	resolved, err := engine.ResolveEnvWith(context.Background(), env, opts)
	if err != nil {
		return err
	}
	if process["env"], err = json.Marshal(resolved); err != nil {
		return err
	}
	if config["process"], err = json.Marshal(process); err != nil {
		return err
	}
	out, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return err
	}
	// The file now holds secrets: a new owner-only file (CreateTemp makes it 0600 and
	// never follows a planted symlink), synced, then renamed over the old one.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config.json.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(out, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func main() {
	var allow patterns
	flags := flag.NewFlagSet("oci-env", flag.ContinueOnError)
	flags.Var(&allow, "allow", "resolve references inside this pattern (repeatable); with none, every reference is refused")
	flags.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: oci-env [--allow PATTERN]... path/to/config.json")
		flags.PrintDefaults()
	}
	if err := flags.Parse(os.Args[1:]); err != nil || flags.NArg() != 1 {
		flags.Usage()
		os.Exit(2)
	}
	if err := run(flags.Arg(0), allow); err != nil {
		fmt.Fprintln(os.Stderr, "oci-env:", err)
		os.Exit(1)
	}
}
