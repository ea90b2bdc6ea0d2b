package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// docExample is one statement of a documented shell example, with the
// output the page shows for it ("" when it shows none).
type docExample struct {
	line int // in the page
	cmd  string
	want string
}

// expectedOutput is a comment showing a command's output: "# [...]" or
// "# {...}", at the end of the command's last line or on a line of its own
// after it.
var expectedOutput = regexp.MustCompile(`(?:^|\s)#\s+([\[{].*)$`)

// docExamples returns the statements of the page's "```sh test" blocks in
// order, and fails if a curl example is in a block without the marker.
func docExamples(t *testing.T, page string) []docExample {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var out []docExample
	var cur *docExample // a statement continued with a trailing backslash
	in, tested := false, false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if fence, ok := strings.CutPrefix(line, "```"); ok {
			if in {
				in = false
				continue
			}
			in, tested = true, strings.TrimSpace(fence) == "sh test"
			continue
		}
		if !in {
			continue
		}
		if !tested {
			if strings.Contains(line, "curl ") {
				t.Errorf("%s:%d: a curl example outside a ```sh test block runs in no test", page, n)
			}
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil:
			cur.cmd += "\n" + line
		case trimmed == "":
			continue
		case strings.HasPrefix(trimmed, "#"):
			if m := expectedOutput.FindStringSubmatch(trimmed); m != nil && len(out) > 0 && out[len(out)-1].want == "" {
				out[len(out)-1].want = m[1]
			}
			continue
		default:
			out = append(out, docExample{line: n, cmd: line})
			cur = &out[len(out)-1]
		}
		if strings.HasSuffix(line, `\`) {
			continue
		}
		if m := expectedOutput.FindStringSubmatch(line); m != nil {
			cur.want = m[1]
		}
		cur = nil
	}
	return out
}

// matchesShown reports whether got is the output the page shows, where
// "…" in it stands for any text (an id, a time).
func matchesShown(got, shown string) bool {
	parts := strings.Split(shown, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^` + strings.Join(parts, `[^"]+`) + `$`).MatchString(got)
}

// TestAPIDocExamples runs the shell examples of docs/api.md, in order, in
// one bash against a server started here (U and ADMIN set as the page's
// set-up block sets them), and checks every output the page shows. curl
// fails on an HTTP error, so an example that stopped working fails too.
func TestAPIDocExamples(t *testing.T) { eachStore(t, testAPIDocExamples) }

func testAPIDocExamples(t *testing.T, o envOptions) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("docs/api.md's examples need %s, which is not installed", tool)
		}
	}
	examples := docExamples(t, "../docs/api.md")
	if len(examples) == 0 {
		t.Fatal("docs/api.md has no ```sh test block")
	}
	e := newEnv(t, o)
	var script strings.Builder
	fmt.Fprintf(&script, "set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; }\nU=%s\nADMIN=%s\n", e.url, e.admin)
	checked := 0
	for i, ex := range examples {
		if ex.want == "" {
			fmt.Fprintf(&script, "%s\n", ex.cmd)
			continue
		}
		checked++
		fmt.Fprintf(&script, "out=$(%s\n)\nprintf '\\n@@ %d\\n%%s\\n@@\\n' \"$out\"\n", ex.cmd, i)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	got := map[int]string{}
	for _, block := range strings.Split(string(stdout), "\n@@ ")[1:] {
		var i int
		var rest string
		if head, body, ok := strings.Cut(block, "\n"); ok {
			fmt.Sscan(head, &i)
			rest, _, _ = strings.Cut(body, "\n@@")
		}
		got[i] = rest
	}
	for i, ex := range examples {
		if ex.want == "" {
			continue
		}
		out, ran := got[i]
		switch {
		case !ran:
			t.Errorf("docs/api.md:%d did not run (an earlier example failed)", ex.line)
		case !matchesShown(out, ex.want):
			t.Errorf("docs/api.md:%d prints\n\t%s\nthe page shows\n\t%s", ex.line, out, ex.want)
		}
	}
	if err != nil {
		t.Fatalf("the examples failed: %v\nstderr: %s\nstdout: %s", err, stderr.String(), stdout)
	}
	if checked < 5 {
		t.Errorf("only %d outputs checked; the page shows more", checked)
	}
}
