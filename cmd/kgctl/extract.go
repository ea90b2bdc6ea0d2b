package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/telamentis/telamentis"
)

// ExtractOptions are the options of extract.
type ExtractOptions struct {
	File          string
	DryRun        bool
	ReferenceTime string
	Instructions  string
	Labels        []string
	Kinds         []string
	MinConfidence float64
	Provider      string
	minSet        bool
}

func newExtractCmd(f *Factory) *cobra.Command {
	var o ExtractOptions
	cmd := &cobra.Command{
		Use:   "extract",
		Short: "Extract facts from a text with the server's LLM and write them (--dry-run: show, write nothing)",
		Long: "Sends the text to POST /v1/llm/{tenant}/extract. The server masks personal data before the text\n" +
			"leaves it, validates the model's answer and writes it as one atomic batch. Needs a writer key.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.minSet = cmd.Flags().Changed("min-confidence")
			return extractRun(cmd.Context(), f, &o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.File, "file", "", "text file (required; - = stdin)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "validate and show the envelope; write nothing")
	fl.StringVar(&o.ReferenceTime, "reference-time", "", "anchor of relative dates (RFC 3339; default now)")
	fl.StringVar(&o.Instructions, "instructions", "", "extra guidance for the model")
	fl.StringSliceVar(&o.Labels, "label", nil, "the only node labels accepted (repeatable)")
	fl.StringSliceVar(&o.Kinds, "kind", nil, "the only relation kinds accepted (repeatable)")
	fl.Float64Var(&o.MinConfidence, "min-confidence", 0.5, "skip items below this confidence")
	fl.StringVar(&o.Provider, "provider", "", "one configured provider, without fallback")
	return cmd
}

// maxExtractText is the server's limit on one text.
const maxExtractText = 256 << 10

func extractRun(ctx context.Context, f *Factory, o *ExtractOptions) error {
	if o.File == "" {
		return usagef("--file is required")
	}
	ref, err := parseTimeFlag("reference-time", o.ReferenceTime)
	if err != nil {
		return err
	}
	if o.minSet && (o.MinConfidence < 0 || o.MinConfidence > 1) {
		return usagef("--min-confidence: must be 0 to 1")
	}
	var in io.Reader = f.IO.In
	if o.File != "-" {
		fh, err := os.Open(o.File)
		if err != nil {
			return usagef("%v", err)
		}
		defer fh.Close()
		in = fh
	}
	b, err := io.ReadAll(io.LimitReader(in, maxExtractText+1))
	if err != nil {
		return usagef("read %s: %v", o.File, err)
	}
	if len(b) > maxExtractText {
		return usagef("%s: more than %d bytes; split the text", o.File, maxExtractText)
	}
	if strings.TrimSpace(string(b)) == "" {
		return usagef("%s: empty text", o.File)
	}
	tenant, cli, err := f.scope(ctx, false)
	if err != nil {
		return err
	}
	req := telamentis.ExtractRequest{Text: string(b), ReferenceTime: ref, Instructions: o.Instructions,
		Labels: o.Labels, Kinds: o.Kinds, DryRun: o.DryRun, Provider: o.Provider}
	if o.minSet {
		req.MinConfidence = &o.MinConfidence
	}
	res, err := cli.Extract(ctx, tenant, req)
	if err != nil {
		return err
	}
	c, _ := f.Config()
	if c.Output != "table" {
		return printOne(f, res, nil)
	}
	type row struct{ status, typ, label, alias, detail string }
	var rows []row
	add := func(status string, items []telamentis.ExtractItem) {
		for _, it := range items {
			d := ""
			if it.Type == "edge" {
				d = it.From + " -> " + it.To
			}
			rows = append(rows, row{status, it.Type, it.Label, it.Alias, d})
		}
	}
	if res.DryRun && res.Envelope != nil {
		for _, n := range res.Envelope.Nodes {
			rows = append(rows, row{"would write", "node", n.Label, n.Alias, "confidence " + strconv.FormatFloat(n.Confidence, 'f', 2, 64)})
		}
		for _, r := range res.Envelope.Relations {
			rows = append(rows, row{"would write", "edge", r.Kind, "", r.From + " -> " + r.To})
		}
	}
	add("created", res.Created)
	add("updated", res.Updated)
	add("unchanged", res.Unchanged)
	for _, s := range res.Skipped {
		rows = append(rows, row{"skipped", s.Type, "", s.Alias, s.Reason})
	}
	if err := printList(f, rows, []string{"STATUS", "TYPE", "LABEL_OR_KIND", "ALIAS", "DETAIL"}, func(r row) []string {
		return []string{r.status, r.typ, orDash(r.label), orDash(r.alias), orDash(r.detail)}
	}); err != nil {
		return err
	}
	m := res.Meta
	fmt.Fprintf(f.IO.ErrOut, "kgctl: %s/%s, %d+%d tokens, $%.4f, %d values redacted before sending, %d ms\n",
		m.Provider, m.Model, m.InputTokens, m.OutputTokens, m.CostUSD, m.Redacted, m.LatencyMS)
	return nil
}
