// Command oci-env plays the part of a container runtime: it reads an OCI runtime
// config.json, resolves every se:// reference in process.env through the default
// engine (the OS keychain) plus a provider of the runtime's own, and writes the
// config back. Container mode is on: an empty NAME= asks for the secret named NAME.
//
//	oci-env path/to/config.json
package main

import (
	"encoding/json"
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

func run(path string) error {
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
	resolved, err := engine.ResolveEnv(env, true)
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
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: oci-env path/to/config.json")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "oci-env:", err)
		os.Exit(1)
	}
}
