package deploy

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose parses compose.yaml as docker compose would, with the
// secrets' group id that init.sh writes to .env.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithWorkingDirectory("."),
		cli.WithEnv([]string{"TELAMENTIS_SECRETS_GID=1000"}), cli.WithInterpolation(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return p
}

// TestComposeWithoutInit: compose.yaml refuses to start until init.sh has
// written the secrets' group.
func TestComposeWithoutInit(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithWorkingDirectory("."), cli.WithEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opts.LoadProject(t.Context()); err == nil || !strings.Contains(err.Error(), "init.sh") {
		t.Fatalf("loaded without TELAMENTIS_SECRETS_GID: %v", err)
	}
}

// TestComposeServices checks the services' shape: pinned images, health
// checks, the start order (postgres → migrate → telamentis), secrets only
// as files named by *_FILE, non-root read-only containers, and the
// published ports against the server's configuration.
func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	want := []string{"migrate", "postgres", "redis", "telamentis"}
	if got := p.ServiceNames(); !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	for name, s := range p.Services {
		t.Run(name, func(t *testing.T) {
			checkImage(t, s)
			checkHealth(t, s)
			checkSecretsAsFiles(t, p, s)
			if len(s.GroupAdd) != 1 || s.GroupAdd[0] != "1000" {
				t.Errorf("group_add %v: the secrets' group is not added", s.GroupAdd)
			}
			if s.User == "root" || s.User == "0" || strings.HasPrefix(s.User, "0:") {
				t.Errorf("runs as %q", s.User)
			}
		})
	}
	dep := func(from, to, cond string) {
		if d, ok := p.Services[from].DependsOn[to]; !ok || d.Condition != cond {
			t.Errorf("%s does not wait for %s to be %s: %+v", from, to, cond, p.Services[from].DependsOn)
		}
	}
	dep("migrate", "postgres", types.ServiceConditionHealthy)
	dep("telamentis", "migrate", types.ServiceConditionCompletedSuccessfully)
	dep("telamentis", "redis", types.ServiceConditionHealthy)
	for _, n := range []string{"migrate", "telamentis"} {
		s := p.Services[n]
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: read_only %v, cap_drop %v, security_opt %v", n, s.ReadOnly, s.CapDrop, s.SecurityOpt)
		}
		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s is not built from deploy/Dockerfile: %+v", n, s.Build)
		}
	}
	if !p.Networks["backend"].Internal {
		t.Error("the backend network (postgres, redis) reaches out")
	}
	for _, n := range []string{"postgres", "redis", "migrate"} {
		if len(p.Services[n].Ports) > 0 {
			t.Errorf("%s publishes ports", n)
		}
	}
}

func checkImage(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	switch name, tag, _ := strings.Cut(s.Image, ":"); {
	case name == "telamentis":
		if tag != "dev" {
			t.Errorf("image %s: not the image it builds", s.Image)
		}
	case tag == "" || tag == "latest" || !strings.ContainsAny(tag, "0123456789"):
		t.Errorf("image %s: not pinned to a release", s.Image)
	}
}

func checkHealth(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	hc := s.HealthCheck
	if s.Name == "migrate" {
		if hc == nil || !hc.Disable {
			t.Error("the one-shot migrate job inherits the server's health check")
		}
		return
	}
	if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Interval == nil || hc.Timeout == nil || hc.Retries == nil {
		t.Fatalf("no health check: %+v", hc)
	}
	if s.Name == "telamentis" && !slices.Equal(hc.Test[:3], []string{"CMD", "/usr/local/bin/telamentis", "health"}) {
		t.Errorf("health check %v is not telamentis health", hc.Test)
	}
}

// secretish names a variable that must not hold its value inline.
func secretish(name string) bool {
	if name == "TELAMENTIS_SECRET_FILES_GROUP_READABLE" {
		return false // a setting about secrets
	}
	for _, w := range []string{"PASSWORD", "SECRET", "TOKEN", "KEY", "DSN", "STORE"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// checkSecretsAsFiles: every secret-like variable is a *_FILE naming a
// secret mounted into this service, and every secret is a file.
func checkSecretsAsFiles(t *testing.T, p *types.Project, s types.ServiceConfig) {
	t.Helper()
	mounted := map[string]bool{}
	for _, ref := range s.Secrets {
		if _, ok := p.Secrets[ref.Source]; !ok {
			t.Errorf("secret %s is not defined", ref.Source)
		}
		target := ref.Target
		if target == "" {
			target = ref.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		mounted[target] = true
	}
	for k, v := range s.Environment {
		if !secretish(k) {
			continue
		}
		if !strings.HasSuffix(k, "_FILE") {
			t.Errorf("%s holds a secret inline", k)
			continue
		}
		if v == nil || !mounted[*v] {
			t.Errorf("%s names %v, which is no secret mounted here", k, v)
		}
	}
	for name, sec := range p.Secrets {
		if sec.File == "" || sec.Environment != "" || sec.Content != "" {
			t.Errorf("secret %s is not a file", name)
		}
	}
}

// TestComposeServerConfig runs init.sh in a copy of the compose directory
// and feeds the server's config file, environment and the generated
// secrets to `telamentis config check`; the ports the file binds are the
// ones compose publishes, and the health check probes them.
func TestComposeServerConfig(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("init.sh needs openssl")
	}
	p := loadCompose(t)
	s := p.Services["telamentis"]
	secrets := runInit(t)
	env := map[string]string{}
	var names []string
	for k, v := range s.Environment {
		names = append(names, k)
		env[k] = *v
		if strings.HasSuffix(k, "_FILE") {
			env[k] = hostSecret(t, p, secrets, *v)
		}
	}
	documented(t, "compose.yaml", names)
	if len(s.Configs) != 1 || s.Configs[0].Target != env["TELAMENTIS_CONFIG"] {
		t.Fatalf("the config file is not mounted where TELAMENTIS_CONFIG points: %+v", s.Configs)
	}
	cfgFile := p.Configs[s.Configs[0].Source].File
	delete(env, "TELAMENTIS_CONFIG")
	out := checkConfig(t, cfgFile, env)
	for _, want := range []string{"secret_files_group_readable: true", "redis_addr: redis:6379", "tls_cert_file: /run/secrets/tls.crt"} {
		if !strings.Contains(out, "\n"+want+"\n") {
			t.Errorf("effective config lacks %q", want)
		}
	}
	for _, sec := range []string{"TELAMENTIS_STORE", "TELAMENTIS_MASTER_KEY", "TELAMENTIS_ADMIN_TOKEN", "TELAMENTIS_REDIS_PASSWORD", "TELAMENTIS_BOOTSTRAP_ADMIN_KEY"} {
		if !strings.Contains(out, "# secret "+sec+": [redacted] (file ") {
			t.Errorf("config check does not see %s as set", sec)
		}
	}
	published := map[uint32]bool{}
	for _, port := range s.Ports {
		published[port.Target] = true
		if port.HostIP != "127.0.0.1" {
			t.Errorf("port %d published on %q, not loopback", port.Target, port.HostIP)
		}
	}
	for _, key := range []string{"listen", "admin_listen"} {
		port := settingPort(t, out, key)
		if !published[port] {
			t.Errorf("%s port %d is not published (%v)", key, port, s.Ports)
		}
	}
	if key := strings.TrimSpace(readFile(t, filepath.Join(secrets, "bootstrap-admin-key"))); !apiKeyRE.MatchString(key) {
		t.Error("init.sh wrote a bootstrap admin key that is no API key")
	}
	// migrate's arguments are flags it has.
	m := p.Services["migrate"]
	if _, err := runServer(t, nil, append(m.Command, "--help")...); err != nil {
		t.Errorf("migrate command: %v", err)
	}
	documented(t, "compose.yaml (migrate)", keys(m.Environment))
}

// runInit runs a copy of compose/init.sh and returns the secrets dir.
func runInit(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "compose")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := readFile(t, "compose/init.sh")
	if err := os.WriteFile(filepath.Join(dir, "init.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), "sh", filepath.Join(dir, "init.sh")).CombinedOutput(); err != nil {
		t.Fatalf("init.sh: %v\n%s", err, out)
	}
	if out, err := exec.CommandContext(t.Context(), "sh", filepath.Join(dir, "init.sh")).CombinedOutput(); err == nil {
		t.Fatalf("init.sh overwrote its secrets:\n%s", out)
	}
	env := readFile(t, filepath.Join(dir, "..", ".env"))
	if env != "TELAMENTIS_SECRETS_GID="+strconv.Itoa(os.Getgid())+"\n" {
		t.Fatalf(".env: %q", env)
	}
	return filepath.Join(dir, "secrets")
}

// hostSecret maps a /run/secrets path of the telamentis service to the
// file init.sh wrote for it, checking the secret's file is where compose
// expects it.
func hostSecret(t *testing.T, p *types.Project, secrets, target string) string {
	t.Helper()
	for _, ref := range p.Services["telamentis"].Secrets {
		if "/run/secrets/"+ref.Source != target {
			continue
		}
		file := filepath.Base(p.Secrets[ref.Source].File)
		path := filepath.Join(secrets, file)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("init.sh wrote no %s: %v", file, err)
		}
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %o, want 0640", file, fi.Mode().Perm())
		}
		return path
	}
	t.Fatalf("%s is no secret of the telamentis service", target)
	return ""
}

// settingPort reads host:port of key from config check's output.
func settingPort(t *testing.T, out, key string) uint32 {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			_, port, err := net.SplitHostPort(v)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			n, _ := strconv.ParseUint(port, 10, 32)
			return uint32(n)
		}
	}
	t.Fatalf("config check prints no %s", key)
	return 0
}

func keys(m types.MappingWithEquals) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
