// Package memlimit sets the Go runtime's soft memory limit
// (runtime/debug.SetMemoryLimit) from one setting shared by the server and
// the benchmark runner.
//
// Without a limit the garbage collector lets the heap grow to twice the
// live data (GOGC=100) before it collects, so a store with large in-memory
// indexes may sit at twice their size in heap plus the runtime's own
// memory. A soft limit makes the collector work harder as the process
// approaches it instead. It is soft: when the live data alone exceeds it,
// the runtime caps the collector at about half the CPU and lets the heap
// grow rather than stall, so a limit set too low costs CPU, never
// correctness.
//
// The setting is one of
//
//	auto        GOMEMLIMIT if the environment sets it; else 90 % of the
//	            cgroup (container) memory limit if there is one; else none
//	off         no limit, even if GOMEMLIMIT is set
//	<size>      a byte size: 1073741824, 1GiB, 1536MiB, 1.5GB
package memlimit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
)

// Min is the smallest explicit limit accepted: below it the collector
// would run almost continuously for any real data set.
const Min = 64 << 20

// Auto and Off are the two named settings.
const (
	Auto = "auto"
	Off  = "off"
)

// cgroupShare is the fraction of a container's memory limit that auto
// gives the Go heap: the rest covers memory the runtime does not count
// (the binary, memory-mapped table files, thread stacks outside Go).
const cgroupShare = 0.9

// Setting is a parsed memory-limit setting.
type Setting struct {
	mode  string // Auto, Off or "bytes"
	bytes int64
}

// Parse parses a setting. The empty string means auto.
func Parse(s string) (Setting, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "", Auto:
		return Setting{mode: Auto}, nil
	case Off, "none", "0":
		return Setting{mode: Off}, nil
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return Setting{}, fmt.Errorf("memory limit %q: want auto, off or a size such as 1GiB", s)
	}
	if n < Min || n > math.MaxInt64 {
		return Setting{}, fmt.Errorf("memory limit %q: must be at least %s", s, humanize.IBytes(Min))
	}
	return Setting{mode: "bytes", bytes: int64(n)}, nil
}

// String returns the setting in a form Parse accepts.
func (s Setting) String() string {
	switch s.mode {
	case "", Auto:
		return Auto
	case Off:
		return Off
	}
	return humanize.IBytes(uint64(s.bytes))
}

// Env is what Resolve reads from its surroundings: the environment and
// the root of the cgroup file system (normally /sys/fs/cgroup, with
// /proc/self/cgroup naming the process's group).
type Env struct {
	Getenv     func(string) string
	CgroupRoot string // "" = /sys/fs/cgroup
	ProcCgroup string // "" = /proc/self/cgroup
}

// Result is the limit Resolve chose and where it came from.
type Result struct {
	// Bytes is the limit; 0 means none (math.MaxInt64 is set).
	Bytes int64
	// Source explains it: "setting", "GOMEMLIMIT", "cgroup <file>" or
	// "none".
	Source string
}

func (r Result) String() string {
	if r.Bytes == 0 {
		return "no memory limit (" + r.Source + ")"
	}
	return fmt.Sprintf("memory limit %s (%s)", humanize.IBytes(uint64(r.Bytes)), r.Source)
}

// Resolve decides the limit for s without applying it.
func Resolve(s Setting, env Env) (Result, error) {
	getenv := env.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	switch s.mode {
	case Off:
		return Result{Source: "off"}, nil
	case "bytes":
		return Result{Bytes: s.bytes, Source: "setting"}, nil
	}
	if v := getenv("GOMEMLIMIT"); v != "" {
		// The runtime has already parsed and applied it at start-up (and
		// refused to start if it was malformed); report what it holds.
		n := debug.SetMemoryLimit(-1)
		if n == math.MaxInt64 {
			return Result{Source: "GOMEMLIMIT=off"}, nil
		}
		return Result{Bytes: n, Source: "GOMEMLIMIT"}, nil
	}
	n, file, err := cgroupLimit(env)
	if err != nil {
		return Result{}, err
	}
	if n == 0 {
		return Result{Source: "no cgroup limit"}, nil
	}
	return Result{Bytes: max(int64(float64(n)*cgroupShare), Min), Source: "90% of cgroup " + file}, nil
}

// Apply resolves s and sets the runtime's soft memory limit.
func Apply(s Setting, env Env) (Result, error) {
	r, err := Resolve(s, env)
	if err != nil {
		return r, err
	}
	switch {
	case r.Bytes > 0:
		debug.SetMemoryLimit(r.Bytes)
	case s.mode == Off:
		debug.SetMemoryLimit(math.MaxInt64)
	}
	return r, nil
}

// cgroupLimit returns the memory limit of the process's cgroup (v2
// memory.max, else v1 memory.limit_in_bytes), 0 if it has none, and the
// file it read.
func cgroupLimit(env Env) (int64, string, error) {
	root := env.CgroupRoot
	if root == "" {
		root = "/sys/fs/cgroup"
	}
	procFile := env.ProcCgroup
	if procFile == "" {
		procFile = "/proc/self/cgroup"
	}
	v2, v1 := "/", "/"
	if b, err := os.ReadFile(procFile); err == nil {
		v2, v1 = groupPaths(b)
	}
	// The group's own file first, then the root's (inside a container the
	// group is usually mounted as the root).
	candidates := append(
		uniq(filepath.Join(root, v2, "memory.max"), filepath.Join(root, "memory.max")),
		uniq(filepath.Join(root, "memory", v1, "memory.limit_in_bytes"), filepath.Join(root, "memory", "memory.limit_in_bytes"))...)
	for _, p := range candidates {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, p, fmt.Errorf("memory limit: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, p, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0, p, fmt.Errorf("memory limit: %s: unexpected content %q", p, v)
		}
		// cgroup v1 reports "no limit" as a page-rounded huge number.
		if n >= math.MaxInt64/2 {
			return 0, p, nil
		}
		return n, p, nil
	}
	return 0, "", nil
}

// groupPaths reads /proc/self/cgroup: the v2 path ("0::/path") and the v1
// memory controller's path ("N:memory:/path"), each "/" if absent.
func groupPaths(b []byte) (v2, v1 string) {
	v2, v1 = "/", "/"
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") || strings.Contains(parts[2], "..") {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case strings.Contains(","+parts[1]+",", ",memory,"):
			v1 = parts[2]
		}
	}
	return v2, v1
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}
