package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	secretsengine "github.com/secrets-engine/secrets-engine/bindings/go"
)

func TestResolvesProcessEnvOfAnOCIConfig(t *testing.T) {
	// A keychain secret, set through the same default engine a runtime would use.
	e, err := secretsengine.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Set("oci/db-password", []byte("kc-pass")); err != nil {
		t.Fatal(err)
	}
	if err := e.Set("GH_TOKEN", []byte("ghp_kc")); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	defer e.Remove("oci/db-password")
	defer e.Remove("GH_TOKEN")
	t.Setenv("RUNTIME_SECRET_API_KEY", "rt-key")

	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	config := `{
  "ociVersion": "1.0.2",
  "process": {"args": ["sh"], "cwd": "/", "env": ["PATH=/usr/bin", "DB_PASSWORD=se://oci/db-password", "API_KEY=se://runtime/api_key", "GH_TOKEN=", "OPTIONAL="]},
  "root": {"path": "rootfs"}
}`
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(path, []string{"oci/**", "runtime/**", "GH_TOKEN"}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	var got struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct {
			Args []string `json:"args"`
			Env  []string `json:"env"`
		} `json:"process"`
		Root struct {
			Path string `json:"path"`
		} `json:"root"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := "PATH=/usr/bin|DB_PASSWORD=kc-pass|API_KEY=rt-key|GH_TOKEN=ghp_kc|OPTIONAL="
	if strings.Join(got.Process.Env, "|") != want {
		t.Fatalf("env %v", got.Process.Env)
	}
	if got.OCIVersion != "1.0.2" || got.Root.Path != "rootfs" || got.Process.Args[0] != "sh" {
		t.Fatalf("other fields changed: %s", raw)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", info.Mode())
	}

	// A reference that cannot be resolved leaves the config untouched.
	bad := `{"process": {"env": ["X=se://missing/secret"]}}`
	os.WriteFile(path, []byte(bad), 0o644)
	if err := run(path, []string{"missing/**"}); err == nil || !strings.Contains(err.Error(), "X: no secret matches missing/secret") {
		t.Fatalf("%v", err)
	}
	if raw, _ := os.ReadFile(path); string(raw) != bad {
		t.Fatalf("config changed: %s", raw)
	}
}

func TestImageProvidedReferencesAreRefusedByDefault(t *testing.T) {
	e, err := secretsengine.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Set("oci/user-secret", []byte("USER-SECRET")); err != nil {
		t.Fatal(err)
	}
	defer e.Remove("oci/user-secret")
	if err := e.Set("GH_TOKEN", []byte("ghp_kc")); err != nil {
		t.Fatal(err)
	}
	defer e.Remove("GH_TOKEN")
	path := filepath.Join(t.TempDir(), "config.json")
	// An image whose ENV names a secret of the user's.
	image := `{"process": {"env": ["PATH=/bin", "STOLEN=se://oci/user-secret"]}}`
	for _, allow := range [][]string{nil, {"ci/**"}, {"oci/other"}} {
		os.WriteFile(path, []byte(image), 0o644)
		err := run(path, allow)
		if err == nil || !strings.Contains(err.Error(), "STOLEN: se://oci/user-secret is not allowed") {
			t.Fatalf("allow %v: %v", allow, err)
		}
		if raw, _ := os.ReadFile(path); string(raw) != image || strings.Contains(string(raw), "USER-SECRET") {
			t.Fatalf("allow %v: config changed: %s", allow, raw)
		}
	}
	// With no --allow, an empty NAME= is left empty rather than looked up.
	os.WriteFile(path, []byte(`{"process": {"env": ["GH_TOKEN="]}}`), 0o644)
	if err := run(path, nil); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(path); strings.Contains(string(raw), "ghp_kc") {
		t.Fatalf("resolved without being allowed: %s", raw)
	}
}
