package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// fileKeys walks v (a pointer to a struct) and returns each leaf field's
// address with its config file key ("rate_limit.tenant_rps"). Slices of
// structs yield their own key and their elements' keys as key[].child.
func fileKeys(v reflect.Value, prefix string, out map[uintptr]string, keys *[]string) {
	t := v.Type().Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		if tag[0] == "-" || !f.IsExported() {
			continue
		}
		fv := v.Elem().Field(i)
		if len(tag) > 1 && tag[1] == "inline" {
			fileKeys(fv.Addr(), prefix, out, keys)
			continue
		}
		key := prefix + tag[0]
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]():
			fileKeys(fv.Addr(), key+".", out, keys)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			*keys = append(*keys, key)
			fileKeys(reflect.New(f.Type.Elem()), key+"[].", map[uintptr]string{}, keys)
		default:
			out[fv.Addr().Pointer()] = key
			*keys = append(*keys, key)
		}
	}
}

// settingKeys returns each setting's file key, by flag name, and every
// file key of Config.
func settingKeys(t *testing.T) (map[string]string, []string) {
	t.Helper()
	c := DefaultConfig()
	addr := map[uintptr]string{}
	var all []string
	fileKeys(reflect.ValueOf(&c), "", addr, &all)
	byFlag := map[string]string{}
	for _, s := range settings(&c) {
		key, ok := addr[reflect.ValueOf(s.ptr).Pointer()]
		if !ok {
			t.Fatalf("setting --%s is no config file key", s.name)
		}
		byFlag[s.name] = key
	}
	return byFlag, all
}

// TestConfigDocs fails when a flag, environment variable or config file key
// of the server is missing from docs/config.md.
func TestConfigDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	has := func(what, s string) {
		if !strings.Contains(doc, "`"+s+"`") {
			t.Errorf("docs/config.md lacks %s `%s`", what, s)
		}
	}
	byFlag, keys := settingKeys(t)
	for flag, key := range byFlag {
		// One row names all three spellings.
		row := "| `--" + flag + "` | `" + envName(flag) + "` | `" + key + "` |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/config.md lacks the row %s", row)
		}
	}
	for _, k := range keys {
		has("file key", k)
	}
	for _, cmd := range []*cobra.Command{serveCommand(env(nil), nil), healthCommand(env(nil), nil, nil),
		migrateCommand(env(nil), nil), configCommand(env(nil), nil, nil).Commands()[0]} {
		cmd.Flags().VisitAll(func(f *pflag.Flag) { has("flag of "+cmd.Name(), "--"+f.Name) })
	}
	for _, v := range envVars(t) {
		has("environment variable", v)
	}
}

// envVars lists the TELAMENTIS_* variables the server's code names, and
// the *_FILE form of each secret.
func envVars(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("*.go")
	re := regexp.MustCompile(`"(TELAMENTIS_[A-Z0-9_]*[A-Z0-9])"`)
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			seen[m[1]] = true
		}
	}
	for _, l := range secretStatus(env(nil)) {
		name := strings.Fields(l)[1]
		name = strings.TrimSuffix(name, ":")
		seen[name], seen[name+"_FILE"] = true, true
	}
	delete(seen, "TELAMENTIS_LLM") // a prefix, not a variable
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
