package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreSettings checks how the store DSN may be given, without a
// database: a password only from the environment or a *_FILE, never from a
// flag or the config file; placeholders refused; the password in no error,
// log line or `config check` output; embedded stays the default.
func TestStoreSettings(t *testing.T) {
	const pw = "Zq8-not-logged-Xv3"
	dsn := "postgres://svc:" + pw + "@127.0.0.1:1/telamentis?connect_timeout=2"
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte("store: "+dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dsnFile := filepath.Join(dir, "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--data", filepath.Join(dir, "data")}
	for _, tc := range []struct {
		name string
		args []string
		vars map[string]string
		want string // in the error
	}{
		{"flag with password", append(serve, "--store", dsn), nil, "not a flag or the config file"},
		{"config file with password", append(serve, "--config", cfgFile), nil, "not a flag or the config file"},
		{"not postgres", append(serve, "--store", "mysql://svc:"+pw+"@db/x"), nil, "must be embedded or a postgres:// URL"},
		{"placeholder password", serve, map[string]string{StoreEnv: "postgres://svc:changeme@127.0.0.1:1/x"}, "password: is a well-known placeholder"},
		{"env and file", serve, map[string]string{StoreEnv: dsn, StoreEnv + "_FILE": dsnFile}, "both"},
		{"file and flag", append(serve, "--store", "postgres://svc@127.0.0.1:1/x"), map[string]string{StoreEnv + "_FILE": dsnFile}, "both set"},
		{"in memory", []string{"serve", "--in-memory", "--listen", "127.0.0.1:0"}, map[string]string{StoreEnv: dsn}, "in_memory"},
		{"short cursor key", serve, map[string]string{StoreEnv: dsn, CursorKeyEnv: "0123456789abcdef"}, CursorKeyEnv},
		{"owner in a flag", []string{"migrate", "--service-role", "telamentis", "--owner-dsn", dsn}, nil, "not a flag or the config file"},
		{"migrate without owner", []string{"migrate", "--service-role", "telamentis"}, nil, OwnerDSNEnv},
		{"unknown query mode", append(serve, "--pg-query-exec-mode", "prepare_everything"), map[string]string{StoreEnv: dsn}, "pg_query_exec_mode"},
		// From the environment or a file the DSN is accepted; the
		// connection then fails (nothing listens on port 1).
		{"env, no database", serve, map[string]string{StoreEnv: dsn}, "postgres: open"},
		{"file, no database", serve, map[string]string{StoreEnv + "_FILE": dsnFile}, "postgres: open"},
		{"migrate, no database", []string{"migrate", "--service-role", "telamentis"}, map[string]string{OwnerDSNEnv + "_FILE": dsnFile}, "postgres: migrate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			err := run(t.Context(), tc.args, env(tc.vars), logs, logs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q\n%s", err, tc.want, logs)
			}
			if strings.Contains(err.Error()+logs.String(), pw) {
				t.Fatalf("password in the output: %v\n%s", err, logs)
			}
		})
	}

	var out strings.Builder
	if err := run(t.Context(), []string{"config", "check"}, env(map[string]string{StoreEnv: dsn}), &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"store: postgres://svc:redacted@127.0.0.1:1/telamentis", "secret " + StoreEnv + ": [redacted] (env)"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("config check lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), pw) {
		t.Fatalf("config check shows the password:\n%s", out.String())
	}

	// The default, and "embedded" from the environment, is the embedded store.
	for _, vars := range []map[string]string{nil, {StoreEnv: "embedded"}} {
		addr, logs, stop := startRun(t, []string{"--in-memory"}, vars)
		if addr == "" || strings.Contains(logs.String(), "postgres") {
			t.Fatalf("not the embedded store:\n%s", logs)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}
