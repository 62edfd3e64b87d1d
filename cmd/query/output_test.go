package main

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/faultline/faultline/query"
)

// hostile are strings an event can carry that a terminal would act on.
var hostile = []struct{ name, in, want string }{
	{"plain", "card declined", "card declined"},
	{"unicode kept", "Zahlung fehlgeschlagen: ü ✓", "Zahlung fehlgeschlagen: ü ✓"},
	{"backslash kept", `C:\temp\x`, `C:\temp\x`},
	{"color", "\x1b[31mred", `\x1b[31mred`},
	{"clear screen and home", "\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
	{"title (OSC)", "\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
	{"hyperlink (OSC 8)", "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", `\x1b]8;;http://evil\x1b\link\x1b]8;;\x1b\`},
	{"8-bit CSI", "a\u009b31mb", `a\u009b31mb`},
	{"newline forging a row", "x\nerror_type  fake", `x\nerror_type  fake`},
	{"carriage return overwrite", "ok\rFAIL", `ok\rFAIL`},
	{"backspace", "abc\b\b\bxyz", `abc\x08\x08\x08xyz`},
	{"bidi override", "abc\u202edcba", `abc\u202edcba`},
	{"bidi isolate", "\u2066x\u2069", `\u2066x\u2069`},
	{"invalid utf8", "a\xffb", `a\xffb`},
	{"DEL and NUL", "a\x7f\x00b", `a\x7f\x00b`},
}

func TestCleanEscapesWhatATerminalWouldRun(t *testing.T) {
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			got := clean(tc.in)
			if got != tc.want {
				t.Fatalf("clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if !utf8.ValidString(got) || strings.ContainsAny(got, "\x1b\x07\r\n\b\u009b\u202e") {
				t.Fatalf("clean(%q) = %q still holds control characters", tc.in, got)
			}
		})
	}
}

// Every table output, and the key-value blocks of show and explain, print event text only
// escaped: the only escape sequences on the terminal are faultline's own colors.
func TestTablesAndBlocksNeverPrintRawControls(t *testing.T) {
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			a := &app{stdout: &out, tty: true}
			a.writeTable(table{header: []string{"MESSAGE", "N"}, rows: [][]string{{tc.in, "1"}}, right: map[int]bool{1: true},
				paint: func(int, int) string { return ansiRed }})
			a.kv([][2]string{{"message", tc.in}})
			a.catalogBlock(&query.CatalogEntry{Category: tc.in, CommonCauses: []string{tc.in}})
			rest := out.String()
			for _, code := range []string{ansiBold, ansiRed, ansiReset} {
				rest = strings.ReplaceAll(rest, code, "")
			}
			if strings.ContainsAny(rest, "\x1b\x07\r\b\u009b\u202e\u2066\x00\x7f") || !utf8.ValidString(rest) {
				t.Fatalf("raw control characters reach the terminal:\n%q", out.String())
			}
			if got := strings.Count(rest, "\n"); got != 2+1+3 { // table 2 lines, kv 1, catalog: category, title, item
				t.Fatalf("event text added lines (%d):\n%s", got, rest)
			}
			if !strings.Contains(rest, tc.want) {
				t.Fatalf("escaped text %q not shown:\n%s", tc.want, rest)
			}
		})
	}
}

// CSV cells a spreadsheet would run are neutralised; numbers stay numbers.
func TestCSVNeutralisesFormulas(t *testing.T) {
	cases := []struct{ in, want string }{
		{`=HYPERLINK("http://evil","x")`, `'=HYPERLINK("http://evil","x")`},
		{"+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", `\t=1`},
		{"-3.5", "-3.5"},
		{"+7", "+7"},
		{"1e3", "1e3"},
		{"plain", "plain"},
		{"a\x1b[2Jb", `a\x1b[2Jb`},
	}
	var out bytes.Buffer
	a := &app{stdout: &out}
	var rows [][]string
	for _, c := range cases {
		rows = append(rows, []string{c.in})
	}
	if err := a.writeCSV([]string{"v"}, rows); err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if got[i+1][0] != c.want {
			t.Errorf("cell %q written as %q, want %q", c.in, got[i+1][0], c.want)
		}
	}
}
