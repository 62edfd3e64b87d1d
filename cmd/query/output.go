package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiDim   = "\x1b[2m"
	ansiReset = "\x1b[0m"
)

// color reports whether to color: only on a terminal, and never with NO_COLOR set.
func (a *app) color() bool { return a.tty && os.Getenv("NO_COLOR") == "" }

func (a *app) paint(code, s string) string {
	if !a.color() || s == "" {
		return s
	}
	return code + s + ansiReset
}

// table is rows of cells for humans and CSV. Cells are plain text; paint colors a cell after
// alignment so escape codes never count towards widths.
type table struct {
	header []string
	rows   [][]string
	right  map[int]bool              // right-aligned (numeric) columns
	paint  func(row, col int) string // ANSI code for a cell, "" for none
}

// clean makes event text safe to print on a terminal: control characters (C0, DEL, C1),
// escape sequences, bidirectional overrides and invalid UTF-8 are shown as Go-style escapes
// (\x1b, \n, \u202e, \xff) instead of being obeyed. Backslashes are left as they are, so
// paths and regexes stay readable.
func clean(s string) string {
	if !needsCleaning(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsCleaning(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || unsafeRune(r) {
			return true
		}
		i += n
	}
	return false
}

// unsafeRune: what a terminal acts on or that reorders what is shown.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || // C0, DEL, C1 (U+0080..U+009F, which includes the 8-bit CSI)
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || // bidi embeddings, overrides, isolates
		r == 0x200e || r == 0x200f || r == 0x061c || // bidi marks
		r == 0x2028 || r == 0x2029 // line and paragraph separators
}

// csvCell neutralises a cell a spreadsheet would run as a formula (=, +, -, @, tab or CR
// first), by a leading apostrophe, as OWASP advises; numbers such as -3.5 stay numbers.
// Control characters are escaped as on the terminal.
func csvCell(s string) string {
	s = clean(s)
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	return "'" + s
}

func (a *app) writeTable(t table) {
	t.header = cleanRow(t.header)
	rows := make([][]string, len(t.rows))
	for i, r := range t.rows {
		rows[i] = cleanRow(r)
	}
	t.rows = rows
	widths := make([]int, len(t.header))
	for i, h := range t.header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string, rowIdx int) string {
		var b strings.Builder
		for i, c := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == len(cells)-1 && !t.right[i] {
				pad = ""
			}
			cell := c
			if rowIdx < 0 {
				cell = a.paint(ansiBold, c)
			} else if t.paint != nil {
				if code := t.paint(rowIdx, i); code != "" {
					cell = a.paint(code, c)
				}
			}
			if t.right[i] {
				b.WriteString(pad + cell)
			} else {
				b.WriteString(cell + pad)
			}
			if i < len(cells)-1 {
				b.WriteString("  ")
			}
		}
		return strings.TrimRight(b.String(), " ") + "\n"
	}
	io.WriteString(a.stdout, line(t.header, -1))
	for i, r := range t.rows {
		io.WriteString(a.stdout, line(r, i))
	}
}

func cleanRow(r []string) []string {
	out := make([]string, len(r))
	for i, c := range r {
		out[i] = clean(c)
	}
	return out
}

func (a *app) writeCSV(header []string, rows [][]string) error {
	w := csv.NewWriter(a.stdout)
	cells := func(r []string) []string {
		out := make([]string, len(r))
		for i, c := range r {
			out[i] = csvCell(c)
		}
		return out
	}
	if err := w.Write(cells(header)); err != nil {
		return err
	}
	for _, r := range rows {
		if err := w.Write(cells(r)); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// sparkline draws counts as one line of block characters, scaled to the largest count.
// Nonzero counts always show at least the lowest block, so rare events are not invisible.
func sparkline(counts []uint64) string {
	const blocks = "▁▂▃▄▅▆▇█"
	levels := []rune(blocks)
	var peak uint64
	for _, c := range counts {
		peak = max(peak, c)
	}
	var b strings.Builder
	for _, c := range counts {
		switch {
		case c == 0:
			b.WriteRune(' ')
		case peak == 0:
			b.WriteRune(levels[0])
		default:
			i := int((c*uint64(len(levels)) - 1) / peak)
			b.WriteRune(levels[min(i, len(levels)-1)])
		}
	}
	return b.String()
}

// downsample sums adjacent counts so a series fits in width characters; it returns the
// factor used.
func downsample(counts []uint64, width int) ([]uint64, int) {
	if len(counts) <= width || width <= 0 {
		return counts, 1
	}
	k := (len(counts) + width - 1) / width
	out := make([]uint64, 0, width)
	for i := 0; i < len(counts); i += k {
		var s uint64
		for j := i; j < min(i+k, len(counts)); j++ {
			s += counts[j]
		}
		out = append(out, s)
	}
	return out, k
}

func u(v uint64) string   { return strconv.FormatUint(v, 10) }
func fl(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
func bs(v bool) string    { return strconv.FormatBool(v) }
func optf(v *float64) string {
	if v == nil {
		return ""
	}
	return fl(*v)
}
