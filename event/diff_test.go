package event

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// gen writes random JSON that exercises the scanner: every known key with
// values of every type, random unknown keys, escapes of every kind, odd
// numbers, nesting and whitespace.
type gen struct {
	r *rand.Rand
	b strings.Builder
}

var knownKeys = []string{"status_code", "request_id", "error_type", "error_message", "error_url",
	"timestamp", "method", "path", "project_id", "organization_id", "member_id", "client", "latency_ms", "region"}

func (g *gen) ws() {
	if g.r.IntN(4) == 0 {
		g.b.WriteString([]string{" ", "\n", "\t", "\r\n  ", "  "}[g.r.IntN(5)])
	}
}

// str writes s as a JSON string, escaping characters at random.
func (g *gen) str(s string) {
	g.b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			g.b.WriteByte('\\')
			g.b.WriteRune(r)
		case r < 0x20 || g.r.IntN(10) == 0:
			g.escape(r)
		default:
			g.b.WriteRune(r)
		}
	}
	if g.r.IntN(30) == 0 { // a lone surrogate, valid JSON that decodes to U+FFFD
		g.b.WriteString([]string{`\ud800`, `\udfff`, `\ud83d\u0041`}[g.r.IntN(3)])
	}
	g.b.WriteByte('"')
}

func (g *gen) escape(r rune) {
	short := map[rune]string{'\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`, '/': `\/`, '"': `\"`, '\\': `\\`}
	if e, ok := short[r]; ok && g.r.IntN(2) == 0 {
		g.b.WriteString(e)
		return
	}
	hex := "0123456789abcdef"
	if g.r.IntN(2) == 0 {
		hex = "0123456789ABCDEF"
	}
	u := func(c rune) {
		g.b.WriteString(`\u`)
		for s := 12; s >= 0; s -= 4 {
			g.b.WriteByte(hex[(c>>s)&0xf])
		}
	}
	if r >= 0x10000 {
		a, b := utf16.EncodeRune(r)
		u(a)
		u(b)
		return
	}
	u(r)
}

func (g *gen) text() string {
	alphabet := []string{"a", "z", "_", "0", "9", "-", " ", "é", "ß", "スティ", "😀", "\u2028", "\x00", "\n", "\"", "\\", "/", "\x7f", "\ufffd", "request-id-live-", "request-id-test-", "b05c992f-ebdc-489d-a754-c7e70ba13141"}
	var sb strings.Builder
	for n := g.r.IntN(8); n > 0; n-- {
		sb.WriteString(alphabet[g.r.IntN(len(alphabet))])
	}
	return sb.String()
}

func (g *gen) number() {
	switch g.r.IntN(8) {
	case 0:
		g.b.WriteString(strconv.Itoa(100 + g.r.IntN(500)))
	case 1:
		g.b.WriteString(strconv.FormatInt(g.r.Int64()-g.r.Int64(), 10))
	case 2:
		g.b.WriteString(strconv.FormatFloat(g.r.NormFloat64()*1e3, 'f', -1, 64))
	case 3:
		g.b.WriteString(strconv.FormatFloat(g.r.Float64(), 'e', g.r.IntN(5), 64))
	case 4:
		g.b.WriteString([]string{"0", "-0", "0.0", "1E+2", "4e2", "400.0", "1e999", "-1e-999", "99", "600"}[g.r.IntN(10)])
	case 5:
		g.b.WriteString(strings.Repeat("9", 1+g.r.IntN(40)))
	case 6:
		g.b.WriteString(strconv.FormatInt(1741964966000+g.r.Int64N(2e8)-1e8, 10))
	default:
		g.b.WriteString(strconv.Itoa(g.r.IntN(1000)))
	}
}

func (g *gen) value(depth int) {
	switch n := g.r.IntN(10); {
	case n < 4:
		g.str(g.text())
	case n < 6:
		g.number()
	case n == 6:
		g.b.WriteString([]string{"true", "false", "null"}[g.r.IntN(3)])
	case n == 7 && depth < 4:
		g.b.WriteByte('[')
		for i := g.r.IntN(4); i > 0; i-- {
			g.ws()
			g.value(depth + 1)
			g.ws()
			if i > 1 {
				g.b.WriteByte(',')
			}
		}
		g.b.WriteByte(']')
	case n == 8 && depth < 4:
		g.object(depth + 1)
	default:
		g.str(g.text())
	}
}

func (g *gen) object(depth int) {
	g.b.WriteByte('{')
	for i := g.r.IntN(10); i > 0; i-- {
		g.ws()
		g.member(depth)
		g.ws()
		if i > 1 {
			g.b.WriteByte(',')
		}
	}
	g.b.WriteByte('}')
}

func (g *gen) member(depth int) {
	if depth == 0 && g.r.IntN(3) > 0 {
		g.str(knownKeys[g.r.IntN(len(knownKeys))])
	} else {
		g.str(g.text())
	}
	g.ws()
	g.b.WriteByte(':')
	g.ws()
	g.value(depth)
}

// event writes a top-level object that is usually accepted: valid error_type
// and status_code, then random members (which may override them: last wins).
func (g *gen) event() string {
	g.b.Reset()
	g.ws()
	g.b.WriteByte('{')
	if g.r.IntN(5) > 0 {
		g.b.WriteString(`"error_type":`)
		g.str([]string{"billing_not_verified", "invalid_email", "some_new_error", "x"}[g.r.IntN(4)])
		g.b.WriteString(`,"status_code":`)
		g.b.WriteString(strconv.Itoa(100 + g.r.IntN(500)))
		g.b.WriteByte(',')
	}
	for i := 1 + g.r.IntN(8); i > 0; i-- {
		g.ws()
		g.member(0)
		g.ws()
		if i > 1 {
			g.b.WriteByte(',')
		}
	}
	g.b.WriteByte('}')
	g.ws()
	return g.b.String()
}

// mutate damages p at a few random places with bytes that matter to JSON.
func mutate(r *rand.Rand, p string) string {
	b := []byte(p)
	pieces := []string{"{", "}", "[", "]", ",", ":", "\"", "\\", " ", "0", "-", ".", "e", "t", "n", "\\u", "\x01", "é", "\xff", "\xe2\x82"}
	for n := 1 + r.IntN(3); n > 0 && len(b) > 0; n-- {
		i := r.IntN(len(b))
		switch r.IntN(3) {
		case 0:
			b = append(b[:i], b[i+1:]...)
		case 1:
			b = append(b[:i], append([]byte(pieces[r.IntN(len(pieces))]), b[i:]...)...)
		default:
			b[i] = pieces[r.IntN(len(pieces))][0]
		}
	}
	return string(b)
}

// TestDifferentialEncodingJSON compares Check with encoding/json on random
// events and on random damage to them (including invalid UTF-8).
func TestDifferentialEncodingJSON(t *testing.T) {
	c := NewChecker(testCatalog(t), Options{})
	r := rand.New(rand.NewPCG(1, 2))
	g := &gen{r: r}
	var ev Event
	var accepted, rejected int
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		p := g.event()
		if i%2 == 1 {
			p = mutate(r, p)
		}
		rej, ok := c.Check([]byte(p), kafkaTime, &ev)
		compareWithOracle(t, []byte(p), rej, ok, &ev)
		if ok {
			accepted++
		} else {
			rejected++
		}
	}
	t.Logf("%d accepted, %d rejected", accepted, rejected)
	if accepted < n/10 || rejected < n/10 {
		t.Errorf("generator is lopsided: %d accepted, %d rejected", accepted, rejected)
	}
}
