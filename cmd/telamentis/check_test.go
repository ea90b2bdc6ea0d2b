package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheckOutputIsAConfigFile feeds `config check`'s output back as
// --config: it is accepted (file keys, not flag names) and resolves to the
// same configuration. A store URL with a password stays out of it.
func TestConfigCheckOutputIsAConfigFile(t *testing.T) {
	const pw = "s3cr3t-Pa55w0rd-9f8e7d"
	args := []string{"config", "check", "--log-level", "warn", "--listen", "0.0.0.0:8443", "--behind-proxy",
		"--trusted-proxies", "10.0.0.0/8,192.0.2.1", "--ratelimit-tenant-rps", "12.5", "--oidc-issuer", "https://id.example.com",
		"--oidc-audience", "telamentis", "--tracing-enabled", "--tracing-otlp-endpoint", "http://127.0.0.1:4318/v1/traces",
		"--pg-schema", "tm", "--pg-max-conns", "7", "--key-cache-ttl", "20s", "--redis-addr", "127.0.0.1:6379"}
	vars := map[string]string{"TELAMENTIS_SHUTDOWN_TIMEOUT": "7s", StoreEnv: "postgres://svc:" + pw + "@127.0.0.1:1/telamentis"}
	var first bytes.Buffer
	if err := run(t.Context(), args, env(vars), &first, io.Discard); err != nil {
		t.Fatal(err)
	}
	out := first.String()
	for _, want := range []string{"\nlog_level: warn\n", "\nlisten: 0.0.0.0:8443\n", "\nrate_limit:\n  tenant_rps: 12.5\n",
		"\n  issuer: https://id.example.com\n", "\nshutdown_timeout: 7s\n", "\npg_schema: tm\n", "\nbehind_proxy: true\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check lacks %q", want)
		}
	}
	for _, bad := range []string{"log-level", "behind-proxy", pw} {
		if strings.Contains(out, bad) {
			t.Errorf("config check shows %q", bad)
		}
	}
	file := filepath.Join(t.TempDir(), "effective.yaml")
	if err := os.WriteFile(file, first.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	if err := run(t.Context(), []string{"config", "check", "--config", file}, env(nil), &second, io.Discard); err != nil {
		t.Fatalf("config check's own output refused as --config: %v\n%s", err, out)
	}
	// Only the DSN (from the environment) and the secret status differ.
	if a, b := settingsOnly(out), settingsOnly(second.String()); a != b {
		t.Fatalf("the file resolves to another configuration:\n--- first\n%s\n--- second\n%s", a, b)
	}
	if t.Failed() {
		t.Log(out)
	}
}

// settingsOnly drops comment lines and the store key.
func settingsOnly(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "store:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestMigrateReadsEnvAsServe: TELAMENTIS_SECRET_FILES_GROUP_READABLE means
// to migrate what it means to serve (any strconv.ParseBool truth, not only
// "true"), and a value that is no boolean is refused.
func TestMigrateReadsEnvAsServe(t *testing.T) {
	file := filepath.Join(t.TempDir(), "owner-dsn")
	if err := os.WriteFile(file, []byte("postgres://owner:Xq7-long-owner-pw-93@127.0.0.1:1/telamentis?connect_timeout=1"), 0o440); err != nil {
		t.Fatal(err)
	}
	args := []string{"migrate", "--service-role", "telamentis"}
	vars := map[string]string{OwnerDSNEnv + "_FILE": file}
	err := run(t.Context(), args, env(vars), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "too open") {
		t.Fatalf("a 0440 secret without the setting: %v", err)
	}
	vars["TELAMENTIS_SECRET_FILES_GROUP_READABLE"] = "1"
	err = run(t.Context(), args, env(vars), io.Discard, io.Discard)
	if err == nil || strings.Contains(err.Error(), OwnerDSNEnv) {
		t.Fatalf("with the setting the file is read and the connection fails: %v", err)
	}
	vars["TELAMENTIS_SECRET_FILES_GROUP_READABLE"] = "yes please"
	err = run(t.Context(), args, env(vars), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "TELAMENTIS_SECRET_FILES_GROUP_READABLE") {
		t.Fatalf("a bad value: %v", err)
	}
}
