package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// canary is a valid secret value that must never appear in any output.
const canary = "cAnArY-7f3b9e1d4a6c8205-SeCrEt"

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func secretFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		loader  Loader
		spec    Spec
		want    string
		errSub  string
		fileArg *struct {
			content string
			mode    os.FileMode
		}
	}{
		{name: "from env", env: map[string]string{"TM_KEY": canary}, want: canary},
		{name: "absent", env: map[string]string{}, errSub: "not set"},
		{name: "absent optional", env: map[string]string{}, spec: Spec{Optional: true}, want: ""},
		{name: "present optional still checked", env: map[string]string{"TM_KEY": "changeme"}, spec: Spec{Optional: true}, errSub: "shorter"},
		{name: "both set", env: map[string]string{"TM_KEY": canary, "TM_KEY_FILE": "/x"}, errSub: "both"},
		{name: "empty env", env: map[string]string{"TM_KEY": ""}, errSub: "empty"},
		{name: "custom min", env: map[string]string{"TM_KEY": canary}, spec: Spec{MinLen: 64}, errSub: "shorter than 64"},
		{name: "missing file", env: map[string]string{"TM_KEY_FILE": "/nonexistent/secret"}, errSub: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.Name = "TM_KEY"
			l := tt.loader
			l.LookupEnv = env(tt.env)
			got, err := l.Load(spec)
			if tt.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("err = %v, want containing %q", err, tt.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Reveal() != tt.want {
				t.Fatalf("got a different value")
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	tests := []struct {
		name      string
		content   string
		mode      os.FileMode
		groupRead bool
		want      string
		errSub    string
	}{
		{name: "0600", content: canary, mode: 0o600, want: canary},
		{name: "0400", content: canary, mode: 0o400, want: canary},
		{name: "one newline trimmed", content: canary + "\n", mode: 0o600, want: canary},
		{name: "crlf trimmed", content: canary + "\r\n", mode: 0o600, want: canary},
		{name: "only one newline trimmed", content: canary + "\n\n", mode: 0o600, errSub: "white space"},
		{name: "world readable", content: canary, mode: 0o604, errSub: "too open"},
		{name: "group readable refused by default", content: canary, mode: 0o640, errSub: "too open"},
		{name: "group readable allowed when configured", content: canary, mode: 0o440, groupRead: true, want: canary},
		{name: "group writable refused even when group read allowed", content: canary, mode: 0o660, groupRead: true, errSub: "too open"},
		{name: "world readable refused when group read allowed", content: canary, mode: 0o444, groupRead: true, errSub: "too open"},
		{name: "placeholder in file", content: "changeme\n", mode: 0o600, errSub: "shorter"},
		{name: "empty file", content: "", mode: 0o600, errSub: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := secretFile(t, tt.content, tt.mode)
			l := Loader{LookupEnv: env(map[string]string{"TM_KEY_FILE": p}), AllowGroupReadable: tt.groupRead}
			got, err := l.Load(Spec{Name: "TM_KEY"})
			if tt.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("err = %v, want containing %q", err, tt.errSub)
				}
				if strings.Contains(err.Error(), canary) {
					t.Fatal("error contains the secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Reveal() != tt.want {
				t.Fatal("got a different value")
			}
		})
	}
	t.Run("directory refused", func(t *testing.T) {
		l := Loader{LookupEnv: env(map[string]string{"TM_KEY_FILE": t.TempDir()})}
		if _, err := l.Load(Spec{Name: "TM_KEY"}); err == nil {
			t.Fatal("loaded a directory")
		}
	})
	t.Run("process env", func(t *testing.T) {
		t.Setenv("TM_PROC_KEY_FILE", secretFile(t, canary+"\n", 0o600))
		got, err := Load("TM_PROC_KEY")
		if err != nil || got.Reveal() != canary {
			t.Fatalf("Load: %v", err)
		}
	})
}

func TestCheckValue(t *testing.T) {
	bad := []string{
		"", "changeme", "CHANGEME", "change-me", "changemechangeme", "changeme12345678",
		"secret", "Secret!!!!!!!!!!!!", "password", "password12345678", "P@ss-word", "test", "TEST_TEST_TEST_TEST",
		"xxx", "xxxxxxxxxxxxxxxxxxxx", "aaaaaaaaaaaaaaaaaaaaaa", "<your-api-key-goes-here>",
		"${TELAMENTIS_MASTER_KEY}", "{{ .Values.masterKey }}", "1234567890123456", "9876543210987654",
		"short-but-random", " " + canary, canary + " ",
	}
	for _, v := range bad {
		t.Run("bad "+v, func(t *testing.T) {
			err := CheckValue(v, 17)
			if err == nil {
				t.Fatal("accepted")
			}
			if v != "" && strings.Contains(err.Error(), v) {
				t.Fatalf("error %q contains the value", err)
			}
		})
	}
	good := []string{canary, "tm_0194a6f3_Q2hhbmdlTWVQbGVhc2VOb3c", "correct horse battery staple", "8f14e45fceea167a5a36dedd4bea2543"}
	for _, v := range good {
		t.Run("good "+v, func(t *testing.T) {
			if err := CheckValue(v, 17); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCanaryNeverPrinted loads a canary secret and pushes it through every
// output path a careless caller might use.
func TestCanaryNeverPrinted(t *testing.T) {
	t.Setenv("TM_CANARY", canary)
	s, err := Load("TM_CANARY")
	if err != nil {
		t.Fatal(err)
	}
	type config struct {
		Name  string
		Token telamentis.Secret
		Ptr   *telamentis.Secret
		inner telamentis.Secret
		List  []telamentis.Secret
		Map   map[string]telamentis.Secret
	}
	c := config{Name: "n", Token: s, Ptr: &s, inner: s, List: []telamentis.Secret{s}, Map: map[string]telamentis.Secret{"k": s}}

	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c))
	}
	outs = append(outs, fmt.Sprint(s, c), fmt.Sprintln(s, c), s.String())

	var jsonLog, textLog bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&jsonLog, nil), slog.NewTextHandler(&textLog, nil)} {
		l := slog.New(h)
		l.Info("loaded", slog.Any("secret", s), slog.Any("config", c), "raw", s, "ptr", &s)
		l.With("cfg", c).Error("failed", slog.Group("g", slog.Any("s", s)))
	}
	outs = append(outs, jsonLog.String(), textLog.String())

	for _, v := range []any{s, c, &c, []telamentis.Secret{s}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	err = fmt.Errorf("secrets: use %v: %w", s, errors.New(fmt.Sprint(c)))
	outs = append(outs, err.Error(), fmt.Sprintf("%+v", err))

	for i, o := range outs {
		if strings.Contains(o, canary) || strings.Contains(o, fmt.Sprintf("%x", canary)) {
			t.Errorf("output %d leaks the canary: %s", i, o)
		}
	}
	if !strings.Contains(jsonLog.String(), "[redacted]") {
		t.Error("json log does not show the redaction marker")
	}
}

func TestReloader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	write := func(v string) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(canary)
	vars := map[string]string{"TM_A_FILE": path, "TM_B": "another-value-of-enough-length"}
	l := Loader{LookupEnv: env(vars)}
	logs := &bytes.Buffer{}
	r, err := NewReloader(l, slog.New(slog.NewJSONHandler(logs, nil)), Spec{Name: "TM_A"}, Spec{Name: "TM_B"}, Spec{Name: "TM_C", Optional: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Get("TM_A").Reveal() != canary || !r.Get("TM_C").IsZero() {
		t.Fatal("initial values wrong")
	}
	var mu sync.Mutex
	var notified []string
	r.Subscribe(func(name string, s telamentis.Secret) {
		mu.Lock()
		defer mu.Unlock()
		notified = append(notified, name+"="+s.Reveal())
	})

	t.Run("unchanged reload notifies nobody", func(t *testing.T) {
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
		if len(notified) != 0 {
			t.Fatalf("notified %v", notified)
		}
	})
	t.Run("bad value keeps everything", func(t *testing.T) {
		write("changeme")
		err := r.Reload()
		if err == nil || !strings.Contains(err.Error(), "TM_A") {
			t.Fatalf("Reload = %v", err)
		}
		if r.Get("TM_A").Reveal() != canary || len(notified) != 0 {
			t.Fatal("a failed reload changed state")
		}
	})
	t.Run("SIGHUP reloads and notifies", func(t *testing.T) {
		// Keep the default SIGHUP action (exit) away while Run registers.
		guard := make(chan os.Signal, 16)
		signal.Notify(guard, syscall.SIGHUP)
		defer signal.Stop(guard)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()

		next := "rotated-" + canary
		write(next)
		deadline := time.Now().Add(20 * time.Second)
		for r.Get("TM_A").Reveal() != next {
			if time.Now().After(deadline) {
				t.Fatal("SIGHUP did not reload")
			}
			syscall.Kill(os.Getpid(), syscall.SIGHUP)
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(notified) != 1 || notified[0] != "TM_A="+next {
			t.Fatalf("notified %v", notified)
		}
	})
	t.Run("new reloader refuses a bad secret", func(t *testing.T) {
		vars["TM_B"] = "password"
		_, err := NewReloader(l, slog.New(slog.NewTextHandler(io.Discard, nil)), Spec{Name: "TM_B"})
		if err == nil {
			t.Fatal("started with a placeholder secret")
		}
	})
	if strings.Contains(logs.String(), canary) {
		t.Fatal("reloader log leaks the secret")
	}
}
