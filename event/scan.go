package event

import (
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of objects and arrays, the top-level object
// included, exactly as encoding/json does (10000), so that both agree on what
// is valid and a hostile payload cannot make skipping a value expensive.
const maxDepth = 10000

// kind is the JSON type of a scanned value.
type kind uint8

const (
	kindAbsent kind = iota // the key did not occur
	kindString
	kindNumber
	kindTrue
	kindFalse
	kindNull
	kindObject
	kindArray
)

// kindNames are used in rejection details and invalid_field handling.
var kindNames = [...]string{
	kindAbsent: "absent",
	kindString: "a string",
	kindNumber: "a number",
	kindTrue:   "a boolean",
	kindFalse:  "a boolean",
	kindNull:   "null",
	kindObject: "an object",
	kindArray:  "an array",
}

// span locates one JSON value in the payload: data[start:end] is its raw text.
type span struct {
	start, end int32
	kind       kind
	esc        bool // string with at least one escape sequence
	isInt      bool // number without fraction or exponent
}

// scanner walks a payload once. Its methods return the index just past what
// they scanned, or -1 after recording the first syntax error.
type scanner struct {
	data   []byte
	errOff int
	errMsg string
}

func (s *scanner) fail(off int, msg string) int {
	s.errOff = off
	s.errMsg = msg
	return -1
}

// strPlain marks the bytes that need no further look inside a JSON string:
// ASCII except '"', '\\' and control characters. Non-ASCII bytes are looked at
// to validate their UTF-8 sequence, which is how the scanner validates UTF-8
// in the same pass (outside strings any non-ASCII byte is a syntax error).
var strPlain = func() (t [256]bool) {
	for i := 0x20; i < utf8.RuneSelf; i++ {
		t[i] = true
	}
	t['"'] = false
	t['\\'] = false
	return t
}()

var hexVal = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = int8(c - 'a' + 10)
		t[c-'a'+'A'] = int8(c - 'a' + 10)
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// needsLook reports whether any of the eight bytes in x is '"', '\\', a
// control character or non-ASCII (SWAR: there is a zero byte in y iff
// (y-lsb)&^y&msb != 0, and a byte below 0x20 in x iff (x-0x20*lsb)&^x&msb != 0;
// borrows only make bits above a true hit, so the tests are exact as a whole).
func needsLook(x uint64) bool {
	q := x ^ ('"' * lsb)
	b := x ^ ('\\' * lsb)
	return ((q-lsb)&^q|(b-lsb)&^b|(x-0x20*lsb)&^x|x)&msb != 0
}

func isWS(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func (s *scanner) skipWS(i int) int {
	d := s.data
	for i < len(d) && d[i] <= ' ' && isWS(d[i]) {
		i++
	}
	return i
}

// scanString scans the string whose opening quote is at i. esc reports whether
// it holds escape sequences (so that its text cannot be used verbatim).
func (s *scanner) scanString(i int) (end int, esc bool) {
	d := s.data
	j := i + 1
	for {
		// Eight bytes at a time while none of them needs a look.
		for j+8 <= len(d) && !needsLook(binary.LittleEndian.Uint64(d[j:])) {
			j += 8
		}
		for j < len(d) && strPlain[d[j]] {
			j++
		}
		if j >= len(d) {
			return s.fail(i, "unterminated string"), false
		}
		switch c := d[j]; {
		case c == '"':
			return j + 1, esc
		case c == '\\':
			esc = true
			if j+1 >= len(d) {
				return s.fail(j, "unterminated string"), false
			}
			switch d[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(d) || hexVal[d[j+2]]|hexVal[d[j+3]]|hexVal[d[j+4]]|hexVal[d[j+5]] < 0 {
					return s.fail(j, "invalid \\u escape in string"), false
				}
				j += 6
			default:
				return s.fail(j, "invalid escape in string"), false
			}
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d[j:])
			if r == utf8.RuneError && size == 1 {
				return s.fail(j, "invalid UTF-8 in string"), false
			}
			j += size
		default:
			return s.fail(j, "control character in string"), false
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber scans a JSON number starting at i; isInt reports that it has no
// fraction and no exponent.
func (s *scanner) scanNumber(i int) (end int, isInt bool) {
	d := s.data
	j := i
	if d[j] == '-' {
		j++
	}
	switch {
	case j < len(d) && d[j] == '0':
		j++
	case j < len(d) && d[j] >= '1' && d[j] <= '9':
		for j < len(d) && isDigit(d[j]) {
			j++
		}
	default:
		return s.fail(j, "invalid number"), false
	}
	isInt = true
	if j < len(d) && d[j] == '.' {
		isInt = false
		j++
		if j >= len(d) || !isDigit(d[j]) {
			return s.fail(j, "invalid number"), false
		}
		for j < len(d) && isDigit(d[j]) {
			j++
		}
	}
	if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
		isInt = false
		j++
		if j < len(d) && (d[j] == '+' || d[j] == '-') {
			j++
		}
		if j >= len(d) || !isDigit(d[j]) {
			return s.fail(j, "invalid number"), false
		}
		for j < len(d) && isDigit(d[j]) {
			j++
		}
	}
	return j, isInt
}

func (s *scanner) scanLiteral(i int, lit string) int {
	d := s.data
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return s.fail(i, "invalid literal")
	}
	return i + len(lit)
}

// scanValue scans the value starting at i (no leading whitespace).
func (s *scanner) scanValue(i int) (end int, sp span) {
	d := s.data
	sp.start = int32(i)
	if i >= len(d) {
		return s.fail(i, "unexpected end of input"), sp
	}
	switch c := d[i]; {
	case c == '"':
		sp.kind = kindString
		end, sp.esc = s.scanString(i)
	case c == '-' || isDigit(c):
		sp.kind = kindNumber
		end, sp.isInt = s.scanNumber(i)
	case c == 't':
		sp.kind = kindTrue
		end = s.scanLiteral(i, "true")
	case c == 'f':
		sp.kind = kindFalse
		end = s.scanLiteral(i, "false")
	case c == 'n':
		sp.kind = kindNull
		end = s.scanLiteral(i, "null")
	case c == '{':
		sp.kind = kindObject
		end = s.skipNested(i)
	case c == '[':
		sp.kind = kindArray
		end = s.skipNested(i)
	default:
		return s.fail(i, "invalid character"), sp
	}
	sp.end = int32(end)
	return end, sp
}

// skipNested validates and skips the object or array opening at i. It is
// iterative (a bit stack records object vs array per level), so deep nesting
// costs no goroutine stack. The first 64 levels live in a register; deeper
// ones (only ever seen in hostile payloads) in one allocated bit array.
func (s *scanner) skipNested(i int) int {
	d := s.data
	var small uint64 // levels 0..63, bit set = object
	var big []uint64 // levels 64 and deeper, same layout by depth
	depth := 0
	for {
		// d[i] opens a container; the top-level object is one more level.
		if depth+1 == maxDepth {
			return s.fail(i, "nesting too deep")
		}
		isObj := d[i] == '{'
		switch {
		case depth < 64 && isObj:
			small |= 1 << depth
		case depth < 64:
			small &^= 1 << depth
		default:
			if big == nil {
				big = make([]uint64, maxDepth/64+1)
			}
			if isObj {
				big[depth/64] |= 1 << (depth % 64)
			} else {
				big[depth/64] &^= 1 << (depth % 64)
			}
		}
		depth++
		i = s.skipWS(i + 1)
		if i >= len(d) {
			return s.fail(i, "unexpected end of input")
		}
		if (isObj && d[i] == '}') || (!isObj && d[i] == ']') {
			depth-- // empty container
			i++
			goto closed
		}
	member:
		if isObj {
			if d[i] != '"' {
				return s.fail(i, "expected object key")
			}
			if i, _ = s.scanString(i); i < 0 {
				return -1
			}
			if i = s.skipWS(i); i >= len(d) || d[i] != ':' {
				return s.fail(i, "expected ':' after object key")
			}
			if i = s.skipWS(i + 1); i >= len(d) {
				return s.fail(i, "unexpected end of input")
			}
		}
		if c := d[i]; c == '{' || c == '[' {
			continue // open the nested container
		}
		if i, _ = s.scanValue(i); i < 0 {
			return -1
		}
	closed:
		// Just past a complete value (or a container that was closed).
		for {
			if depth == 0 {
				return i
			}
			if top := depth - 1; top < 64 {
				isObj = small&(1<<top) != 0
			} else {
				isObj = big[top/64]&(1<<(top%64)) != 0
			}
			if i = s.skipWS(i); i >= len(d) {
				return s.fail(i, "unexpected end of input")
			}
			switch c := d[i]; {
			case c == ',':
				if i = s.skipWS(i + 1); i >= len(d) {
					return s.fail(i, "unexpected end of input")
				}
				goto member
			case isObj && c == '}', !isObj && c == ']':
				depth--
				i++
			default:
				if isObj {
					return s.fail(i, "expected ',' or '}' in object")
				}
				return s.fail(i, "expected ',' or ']' in array")
			}
		}
	}
}

// appendUnescaped appends the decoded text of a validated JSON string body (the
// bytes between the quotes) to dst. Unpaired surrogates become U+FFFD, as in
// encoding/json.
func appendUnescaped(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		if src[i] != '\\' {
			j := i + 1
			for j < len(src) && src[j] != '\\' {
				j++
			}
			dst = append(dst, src[i:j]...)
			i = j
			continue
		}
		switch e := src[i+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(src[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r1 := utf8.RuneError
				if i+6 <= len(src) && src[i] == '\\' && src[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(src[i+2:])); dec != utf8.RuneError {
						r1 = dec
						i += 6
					}
				}
				r = r1
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

func hex4(b []byte) rune {
	return rune(hexVal[b[0]])<<12 | rune(hexVal[b[1]])<<8 | rune(hexVal[b[2]])<<4 | rune(hexVal[b[3]])
}
