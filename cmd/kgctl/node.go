package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newNodeCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Act on nodes"}
	cmd.AddCommand(newNodeMergeCmd(f))
	return cmd
}

// NodeMergeOptions are the options of node merge.
type NodeMergeOptions struct {
	Ref  string
	Into string
}

func newNodeMergeCmd(f *Factory) *cobra.Command {
	o := &NodeMergeOptions{}
	c := &cobra.Command{
		Use:   "merge <id|alias> --into <id|alias>",
		Short: "Merge a node into another: its edges and aliases move to the target, both histories stay",
		Long: "Merge closes the node, moves its live edges to the target as new edges (edges between the two,\n" +
			"and exact duplicates of the target's, are dropped) and makes its alias and extra aliases name the\n" +
			"target from now on. As of before the merge both nodes are there. Needs a writer or tenant_admin key.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Ref = args[0]
			return nodeMergeRun(cmd.Context(), f, o)
		},
	}
	c.Flags().StringVar(&o.Into, "into", "", `the node to merge into: an id or an alias ("alias:" forces an alias)`)
	return c
}

func nodeMergeRun(ctx context.Context, f *Factory, o *NodeMergeOptions) error {
	if o.Into == "" {
		return usagef("--into is required")
	}
	tenant, cli, err := f.scope(ctx, false)
	if err != nil {
		return err
	}
	res, err := cli.MergeNode(ctx, tenant, parseRef(o.Ref), parseRef(o.Into))
	if err != nil {
		return err
	}
	return printOne(f, res, func() [][2]string {
		return [][2]string{
			{"merged", res.Merged}, {"into", res.Node.ID}, {"tx_time", ts(res.TxTime)},
			{"moved", strconv.Itoa(len(res.Moved))}, {"dropped", strconv.Itoa(len(res.Dropped))},
			{"aliases", orDash(strings.Join(res.Aliases, ","))},
		}
	})
}
