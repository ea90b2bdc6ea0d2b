package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v4"
)

// printList writes items in the configured format: a table of row(item)
// under headers, or the items as JSON or YAML with the API's field names.
func printList[T any](f *Factory, items []T, headers []string, row func(T) []string) error {
	c, err := f.Config()
	if err != nil {
		return err
	}
	if items == nil {
		items = []T{}
	}
	switch c.Output {
	case "json":
		return writeJSON(f.IO.Out, items)
	case "yaml":
		return writeYAML(f.IO.Out, items)
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, it := range items {
		cells := row(it)
		for i, c := range cells {
			cells[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// printOne writes one item: as key/value lines for a table, or as JSON or
// YAML.
func printOne(f *Factory, item any, fields func() [][2]string) error {
	c, err := f.Config()
	if err != nil {
		return err
	}
	switch c.Output {
	case "json":
		return writeJSON(f.IO.Out, item)
	case "yaml":
		return writeYAML(f.IO.Out, item)
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	for _, kv := range fields() {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], cell(kv[1]))
	}
	return tw.Flush()
}

// cell makes a table cell safe for a terminal: control characters (escape
// sequences included) and tabs are shown escaped.
func cell(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeYAML writes v as YAML with its JSON field names (through JSON).
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(generic); err != nil {
		return err
	}
	return enc.Close()
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
