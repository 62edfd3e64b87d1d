package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
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

func (a *app) writeTable(t table) {
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

func (a *app) writeCSV(header []string, rows [][]string) error {
	w := csv.NewWriter(a.stdout)
	if err := w.Write(header); err != nil {
		return err
	}
	if err := w.WriteAll(rows); err != nil {
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
