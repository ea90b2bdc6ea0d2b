package main

import (
	"bytes"
	"strings"
	"testing"
)

// kgctlLocal runs kgctl in process for a command that needs no server.
func kgctlLocal(t testing.TB, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(t.Context(), args, func(string) string { return "" }, &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb})
	return result{out.String(), errb.String(), code}
}

// TestCompletion checks kgctl completion for each shell, and that the
// generated scripts' completion requests offer subcommands and flag values.
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "__start_kgctl",
		"zsh":        "#compdef kgctl",
		"fish":       "complete -c kgctl",
		"powershell": "Register-ArgumentCompleter",
	} {
		t.Run(shell, func(t *testing.T) {
			r := kgctlLocal(t, "completion", shell)
			if r.code != 0 || !strings.Contains(r.out, want) || r.err != "" {
				t.Fatalf("exit %d, stdout lacks %q: %.200q, stderr %q", r.code, want, r.out, r.err)
			}
		})
	}
	if r := kgctlLocal(t, "completion"); r.code != exitUsage || !strings.Contains(r.err, "bash") {
		t.Fatalf("completion without a shell: exit %d %q", r.code, r.err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "ing"}, []string{"ingest"}},
		{[]string{"__complete", "ingest", "csv", "--type", ""}, []string{"node", "edge"}},
		{[]string{"__complete", "query", "nodes", "-o", ""}, []string{"table", "json", "yaml"}},
		{[]string{"__complete", "export", "--format", ""}, []string{"jsonl", "graphml", "cypher", "csv"}},
	} {
		r := kgctlLocal(t, c.args...)
		for _, w := range c.want {
			if r.code != 0 || !strings.Contains("\n"+r.out, "\n"+w+"\n") && !strings.Contains("\n"+r.out, "\n"+w+"\t") {
				t.Errorf("%v: exit %d, %q lacks %q", c.args, r.code, r.out, w)
			}
		}
	}
}
