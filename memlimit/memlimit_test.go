package memlimit

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"", "auto"},
		{"auto", "auto"},
		{" AUTO ", "auto"},
		{"off", "off"},
		{"0", "off"},
		{"1GiB", "1.0 GiB"},
		{"1536MiB", "1.5 GiB"},
		{"1073741824", "1.0 GiB"},
		{"1.5GB", "1.4 GiB"},
	} {
		s, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		if got := s.String(); got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"lots", "-1GiB", "1 parsec", "63MiB", "1000", "99999999999999999999999"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// cgroupFS lays out a cgroup tree under a temporary root.
func cgroupFS(t *testing.T, proc string, files map[string]string) Env {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, "fs", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pc := filepath.Join(root, "proc-cgroup")
	if err := os.WriteFile(pc, []byte(proc), 0o644); err != nil {
		t.Fatal(err)
	}
	return Env{Getenv: func(string) string { return "" }, CgroupRoot: filepath.Join(root, "fs"), ProcCgroup: pc}
}

func TestResolveAuto(t *testing.T) {
	auto, _ := Parse("auto")
	for _, tc := range []struct {
		name  string
		proc  string
		files map[string]string
		want  int64
		src   string
	}{
		{"v2 group", "0::/kubepods/pod1\n", map[string]string{
			"kubepods/pod1/memory.max": "2147483648\n", "memory.max": "max\n"}, 1932735283, "kubepods/pod1/memory.max"},
		{"v2 namespaced root", "0::/\n", map[string]string{"memory.max": "1073741824\n"}, 966367641, "fs/memory.max"},
		{"v2 unlimited", "0::/\n", map[string]string{"memory.max": "max\n"}, 0, "no cgroup limit"},
		{"v1 group", "4:memory:/docker/abc\n1:cpu:/\n", map[string]string{
			"memory/docker/abc/memory.limit_in_bytes": "1610612736\n"}, 1449551462, "docker/abc/memory.limit_in_bytes"},
		{"v1 unlimited", "4:memory:/x\n", map[string]string{
			"memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0, "no cgroup limit"},
		{"none at all", "", nil, 0, "no cgroup limit"},
		{"tiny limit floors at Min", "0::/\n", map[string]string{"memory.max": "16777216\n"}, Min, "memory.max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Resolve(auto, cgroupFS(t, tc.proc, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if r.Bytes != tc.want || !strings.Contains(r.Source, tc.src) {
				t.Fatalf("got %d (%s), want %d (%s)", r.Bytes, r.Source, tc.want, tc.src)
			}
		})
	}
}

func TestResolveRejectsGarbage(t *testing.T) {
	auto, _ := Parse("auto")
	if _, err := Resolve(auto, cgroupFS(t, "0::/\n", map[string]string{"memory.max": "lots\n"})); err == nil {
		t.Fatal("garbage in memory.max accepted")
	}
}

func TestResolveExplicitWinsOverEverything(t *testing.T) {
	env := cgroupFS(t, "0::/\n", map[string]string{"memory.max": "1073741824\n"})
	env.Getenv = gomemlimit("100MiB")
	s, _ := Parse("1GiB")
	r, err := Resolve(s, env)
	if err != nil || r.Bytes != 1<<30 || r.Source != "setting" {
		t.Fatalf("got %+v, %v", r, err)
	}
	off, _ := Parse("off")
	if r, _ := Resolve(off, env); r.Bytes != 0 {
		t.Fatalf("off resolved to %d", r.Bytes)
	}
}

func TestApplySetsTheRuntimeLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	s, _ := Parse("768MiB")
	if _, err := Apply(s, Env{}); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != 768<<20 {
		t.Fatalf("runtime limit %d, want %d", got, 768<<20)
	}
	// auto with GOMEMLIMIT set reports the runtime's value and keeps it.
	env := Env{Getenv: gomemlimit("768MiB")}
	auto, _ := Parse("auto")
	r, err := Apply(auto, env)
	if err != nil || r.Bytes != 768<<20 || r.Source != "GOMEMLIMIT" {
		t.Fatalf("auto with GOMEMLIMIT: %+v, %v", r, err)
	}
	off, _ := Parse("off")
	if _, err := Apply(off, Env{}); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("off left the limit at %d", got)
	}
}

// gomemlimit is an environment holding only GOMEMLIMIT=v.
func gomemlimit(v string) func(string) string {
	return func(k string) string {
		if k == "GOMEMLIMIT" {
			return v
		}
		return ""
	}
}
