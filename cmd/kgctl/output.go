package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

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
	rows := make([][]string, 0, len(items)+1)
	rows = append(rows, headers)
	for _, it := range items {
		cells := row(it)
		for i, c := range cells {
			cells[i] = cell(c)
		}
		rows = append(rows, cells)
	}
	if f.IO.StdoutTTY && f.IO.Width > 0 {
		fitTable(rows, f.IO.Width)
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, tableGap, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// tableGap is the space between two table columns.
const tableGap = 2

// minColumn is the narrowest fitTable makes a column whose header is
// narrower still: two characters and the ellipsis.
const minColumn = 3

// fitTable shortens the cells of rows (rows[0] is the header) so that
// the table fits width columns: the widest column gives up a character
// at a time, none below its header's width (at least minColumn, or its
// own width if narrower), and a shortened cell ends in an ellipsis.
// Widest first keeps the short columns (aliases, kinds) whole and cuts
// ids, times and props, which -o json shows in full. A table that cannot
// fit stays at those floors. Only terminal output is fitted: a pipe or
// file, and -o json or yaml, get every character.
func fitTable(rows [][]string, width int) {
	if len(rows) == 0 {
		return
	}
	n := len(rows[0])
	w, floor := make([]int, n), make([]int, n)
	for _, r := range rows {
		for i := 0; i < n && i < len(r); i++ {
			w[i] = max(w[i], utf8.RuneCountInString(r[i]))
		}
	}
	total := tableGap * (n - 1)
	for i := range n {
		floor[i] = min(w[i], max(utf8.RuneCountInString(rows[0][i]), minColumn))
		total += w[i]
	}
	for total > width {
		widest := -1
		for i := range n {
			if w[i] > floor[i] && (widest < 0 || w[i] > w[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break
		}
		w[widest]--
		total--
	}
	for _, r := range rows {
		for i := 0; i < n && i < len(r); i++ {
			r[i] = truncate(r[i], w[i])
		}
	}
}

// truncate shortens s to n runes, the last an ellipsis, if it is longer.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	var b strings.Builder
	k := 0
	for _, r := range s {
		if k == n-1 {
			break
		}
		b.WriteRune(r)
		k++
	}
	b.WriteString("…")
	return b.String()
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
