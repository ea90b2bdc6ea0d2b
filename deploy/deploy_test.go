package deploy

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// server is the telamentis binary built from this tree by TestMain.
var server string

// TestMain builds the server once. go test puts its own toolchain first in
// PATH, so "go" is the release building these tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "telamentis-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = filepath.Join(dir, "telamentis")
	build := exec.Command("go", "build", "-o", server, "../cmd/telamentis")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build telamentis:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runServer runs the built binary with exactly env and returns its
// stdout, or an error holding its stderr.
func runServer(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), server, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("telamentis %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// TestServerBinaryLinksNoDeployModules: the Compose and Kubernetes modules
// these tests use stay out of the server binary.
func TestServerBinaryLinksNoDeployModules(t *testing.T) {
	out, err := exec.Command("go", "version", "-m", server).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "github.com/dgraph-io/badger/v4") {
		t.Fatalf("go version -m lists no dependencies:\n%s", out)
	}
	for _, mod := range []string{"k8s.io/", "github.com/compose-spec/", "sigs.k8s.io/"} {
		if strings.Contains(string(out), mod) {
			t.Errorf("the server binary links %s", mod)
		}
	}
}

// TestImageDefaultConfig: the configuration the image ships is valid for
// the server, serves TLS on 8443 as the Dockerfile exposes, and names the
// volumes the Dockerfile declares.
func TestImageDefaultConfig(t *testing.T) {
	df := readFile(t, "Dockerfile")
	for _, want := range []string{
		"COPY deploy/telamentis.yaml /etc/telamentis/telamentis.yaml",
		"ENV TELAMENTIS_CONFIG=/etc/telamentis/telamentis.yaml",
		"EXPOSE 8443 8079",
		`CMD ["/usr/local/bin/telamentis", "health"]`,
		`VOLUME ["/var/lib/telamentis/data", "/var/lib/telamentis/audit"]`,
		"USER 65532:65532",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// An ENV setting would outrank the mounted config file.
	for _, l := range strings.Split(df, "\n") {
		if strings.HasPrefix(l, "ENV ") && strings.Contains(l, "TELAMENTIS_") && !strings.HasPrefix(l, "ENV TELAMENTIS_CONFIG=") {
			t.Errorf("Dockerfile sets a setting in ENV: %s", l)
		}
	}
	if !strings.Contains(readFile(t, "Dockerfile.dockerignore"), "!deploy/telamentis.yaml") {
		t.Error("the build context leaves out deploy/telamentis.yaml")
	}
	cfg := checkConfig(t, "telamentis.yaml", nil)
	for _, want := range []string{"listen: 0.0.0.0:8443", "tls_cert_file: /run/secrets/telamentis-tls/tls.crt",
		"data: /var/lib/telamentis/data", "audit_dir: /var/lib/telamentis/audit"} {
		if !strings.Contains(cfg, "\n"+want+"\n") {
			t.Errorf("the image's config lacks %q:\n%s", want, cfg)
		}
	}
}

// checkConfig runs `telamentis config check` on the config file with env
// and returns the effective configuration it prints.
func checkConfig(t *testing.T, file string, env map[string]string) string {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runServer(t, env, "config", "check", "--config", abs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// documented fails the test for each TELAMENTIS_ variable of names that
// docs/config.md does not list.
func documented(t *testing.T, where string, names []string) {
	t.Helper()
	doc := readFile(t, "../docs/config.md")
	for _, n := range names {
		if strings.HasPrefix(n, "TELAMENTIS_") && !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("%s sets %s, which docs/config.md does not know", where, n)
		}
	}
}

var apiKeyRE = regexp.MustCompile(`^tm_[a-z2-7]{16}_[a-z2-7]{52}$`)

// secretValue is a valid random value for the secret variable name.
func secretValue(name string) string {
	b := make([]byte, 45) // 72 base32 characters: 16 + 52 for a key token
	rand.Read(b)
	switch {
	case strings.Contains(name, "BOOTSTRAP_ADMIN_KEY"):
		s := strings.ToLower(base32.StdEncoding.EncodeToString(b))
		return "tm_" + s[:16] + "_" + s[16:68]
	case strings.Contains(name, "STORE"), strings.Contains(name, "DSN"):
		return "postgres://telamentis:" + hex.EncodeToString(b[:16]) + "@db.internal:5432/telamentis?sslmode=verify-full"
	}
	return hex.EncodeToString(b[:32])
}
