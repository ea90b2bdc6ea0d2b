package main

import "github.com/spf13/cobra"

// flagValues are the fixed values of flags that take one of a few words,
// offered by shell completion.
var flagValues = map[string][]string{
	"output":    {"table", "json", "yaml"},
	"type":      {"node", "edge"},
	"format":    {"jsonl", "graphml", "cypher", "csv"},
	"direction": {"out", "in", "both"},
	"role":      {"admin", "tenant_admin", "writer", "reader"},
	"isolation": {"shared", "dedicated"},
	"pii-mode":  {"mask", "pseudonymise"},
}

// addCompletion adds cobra's completion command (kgctl completion
// bash|zsh|fish|powershell) to root and registers the values of the flags
// in flagValues on every command that has them. The scripts go to root's
// output, which must be set first.
func addCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, values := range flagValues {
			if c.Flags().Lookup(name) != nil || c.PersistentFlags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}
