package event

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Checker decodes, checks and enriches messages against one catalog snapshot.
// It is immutable and safe for concurrent use (each goroutine with its own
// Event). Build a new Checker when the catalog is reloaded.
type Checker struct {
	cat      Catalog
	version  string
	maxBytes int
	maxSkew  time.Duration
}

// NewChecker returns a Checker for cat; zero or negative Options fields take
// their defaults (MaxMessageBytes is capped at math.MaxInt32). cat.Version() is read once, here. A nil cat makes every
// error type unknown.
func NewChecker(cat Catalog, opts Options) *Checker {
	c := &Checker{cat: cat, maxBytes: opts.MaxMessageBytes, maxSkew: opts.MaxClockSkew}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxMessageBytes
	}
	// Spans hold int32 offsets: a 2 GiB message is not an error event anyway.
	c.maxBytes = min(c.maxBytes, math.MaxInt32)
	if c.maxSkew <= 0 {
		c.maxSkew = DefaultMaxClockSkew
	}
	if cat != nil {
		c.version = cat.Version()
	}
	return c
}

// Indexes of the known fields of the contract.
const (
	fStatusCode = iota
	fRequestID
	fErrorType
	fErrorMessage
	fErrorURL
	fTimestamp
	fMethod
	fPath
	fProjectID
	fOrganizationID
	fMemberID
	fClient
	fLatencyMs
	fRegion
	numFields
)

var fieldNames = [numFields]string{
	fStatusCode:     "status_code",
	fRequestID:      "request_id",
	fErrorType:      "error_type",
	fErrorMessage:   "error_message",
	fErrorURL:       "error_url",
	fTimestamp:      "timestamp",
	fMethod:         "method",
	fPath:           "path",
	fProjectID:      "project_id",
	fOrganizationID: "organization_id",
	fMemberID:       "member_id",
	fClient:         "client",
	fLatencyMs:      "latency_ms",
	fRegion:         "region",
}

func fieldIndex(key string) int {
	switch key {
	case "status_code":
		return fStatusCode
	case "request_id":
		return fRequestID
	case "error_type":
		return fErrorType
	case "error_message":
		return fErrorMessage
	case "error_url":
		return fErrorURL
	case "timestamp":
		return fTimestamp
	case "method":
		return fMethod
	case "path":
		return fPath
	case "project_id":
		return fProjectID
	case "organization_id":
		return fOrganizationID
	case "member_id":
		return fMemberID
	case "client":
		return fClient
	case "latency_ms":
		return fLatencyMs
	case "region":
		return fRegion
	}
	return -1
}

// alias returns b's bytes as a string without copying.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (s *scanner) raw(sp span) string { return alias(s.data[sp.start:sp.end]) }

// str returns the decoded text of a string value: the payload's own bytes when
// it has no escapes, else one fresh allocation.
func (s *scanner) str(sp span) string {
	body := s.data[sp.start+1 : sp.end-1]
	if !sp.esc {
		return alias(body)
	}
	// Unescaping never lengthens the text, so one allocation is enough.
	return alias(appendUnescaped(make([]byte, 0, len(body)), body))
}

// decodeObject scans the whole payload, which must be one JSON object. Known
// fields are recorded in f (a repeated key overwrites: the last one wins);
// other keys become attributes of ev.
func decodeObject(s *scanner, f *[numFields]span, ev *Event) bool {
	d := s.data
	i := s.skipWS(0)
	if i >= len(d) {
		s.fail(i, "empty payload")
		return false
	}
	if d[i] != '{' {
		s.fail(i, "top-level value is not an object")
		return false
	}
	if i = s.skipWS(i + 1); i < len(d) && d[i] == '}' {
		i++
	} else {
		for {
			if i >= len(d) || d[i] != '"' {
				s.fail(i, "expected object key")
				return false
			}
			kEnd, kEsc := s.scanString(i)
			if kEnd < 0 {
				return false
			}
			kRaw := d[i+1 : kEnd-1]
			if i = s.skipWS(kEnd); i >= len(d) || d[i] != ':' {
				s.fail(i, "expected ':' after object key")
				return false
			}
			i = s.skipWS(i + 1)
			end, sp := s.scanValue(i)
			if end < 0 {
				return false
			}
			key := alias(kRaw)
			if kEsc {
				key = string(appendUnescaped(nil, kRaw))
			}
			if fi := fieldIndex(key); fi >= 0 {
				f[fi] = sp
			} else {
				ev.setAttr(key, s.raw(sp))
			}
			if i = s.skipWS(end); i >= len(d) {
				s.fail(i, "unexpected end of input")
				return false
			}
			if d[i] == ',' {
				i = s.skipWS(i + 1)
				continue
			}
			if d[i] == '}' {
				i++
				break
			}
			s.fail(i, "expected ',' or '}' in object")
			return false
		}
	}
	if i = s.skipWS(i); i != len(d) {
		s.fail(i, "trailing data after object")
		return false
	}
	return true
}

// Check decodes payload and fills ev (reusing ev's slices and memory; ev is
// overwritten entirely). ok=false means rejected, and ev is then undefined.
// kafkaTime is the Kafka message timestamp: the event time when the payload
// carries none (or a bad one). A zero kafkaTime disables the clock-skew check.
func (c *Checker) Check(payload []byte, kafkaTime time.Time, ev *Event) (rej Rejection, ok bool) {
	if len(payload) > c.maxBytes {
		return Rejection{ReasonTooLarge, "message is " + strconv.Itoa(len(payload)) + " bytes, limit " + strconv.Itoa(c.maxBytes)}, false
	}

	ev.Reset() // no references to old payloads

	s := scanner{data: payload}
	var f [numFields]span
	if !decodeObject(&s, &f, ev) {
		// The scanner validates UTF-8 as it goes (it only succeeds on valid
		// UTF-8), so the separate pass is needed on this path only: invalid
		// UTF-8 anywhere outranks a syntax error.
		if !utf8.Valid(payload) {
			return Rejection{ReasonInvalidUTF8, "invalid UTF-8 at offset " + strconv.Itoa(firstInvalidUTF8(payload))}, false
		}
		return Rejection{ReasonNotJSONObject, s.errMsg + " at offset " + strconv.Itoa(s.errOff)}, false
	}

	// Required fields, in the order the reasons are documented.
	switch sp := f[fErrorType]; sp.kind {
	case kindAbsent, kindNull:
		return Rejection{ReasonMissingErrorType, "no error_type"}, false
	case kindString:
		ev.ErrorType = s.str(sp)
		if !validErrorType(ev.ErrorType) {
			return Rejection{ReasonInvalidErrorType, "error_type " + quoteShort(ev.ErrorType) + " does not match ^[a-z0-9_]{1,128}$"}, false
		}
	default:
		return Rejection{ReasonInvalidErrorType, "error_type is " + kindNames[sp.kind] + ", want a string"}, false
	}
	switch sp := f[fStatusCode]; sp.kind {
	case kindAbsent, kindNull:
		return Rejection{ReasonMissingStatusCode, "no status_code"}, false
	case kindNumber:
		raw := s.raw(sp)
		if !sp.isInt {
			return Rejection{ReasonInvalidStatusCode, "status_code " + short(raw) + " is not an integer"}, false
		}
		code, _ := digits(raw) // a negative or long literal fails the range test below
		if raw[0] == '-' || len(raw) > 3 || code < 100 || code > 599 {
			return Rejection{ReasonInvalidStatusCode, "status_code " + short(raw) + " outside 100..599"}, false
		}
		ev.StatusCode = uint16(code)
	default:
		return Rejection{ReasonInvalidStatusCode, "status_code is " + kindNames[sp.kind] + ", want an integer"}, false
	}

	// Accepted from here on; everything else only flags.
	switch sp := f[fRequestID]; sp.kind {
	case kindAbsent, kindNull:
		ev.Flags |= FlagMissingRequestID
	case kindString:
		ev.RequestID = s.str(sp)
		if !validRequestID(ev.RequestID) {
			ev.Flags |= FlagMalformedRequestID
		}
	default:
		ev.Flags |= FlagMalformedRequestID
		c.invalid(&s, ev, fRequestID, sp)
	}
	ev.Environment = environment(ev.RequestID)

	ev.ErrorMessage = c.optString(&s, ev, fErrorMessage, f[fErrorMessage])
	ev.ErrorURL = c.optString(&s, ev, fErrorURL, f[fErrorURL])
	ev.Method = c.optString(&s, ev, fMethod, f[fMethod])
	ev.Path = c.optString(&s, ev, fPath, f[fPath])
	ev.ProjectID = c.optString(&s, ev, fProjectID, f[fProjectID])
	ev.OrganizationID = c.optString(&s, ev, fOrganizationID, f[fOrganizationID])
	ev.MemberID = c.optString(&s, ev, fMemberID, f[fMemberID])
	ev.Client = c.optString(&s, ev, fClient, f[fClient])
	ev.Region = c.optString(&s, ev, fRegion, f[fRegion])

	switch sp := f[fLatencyMs]; sp.kind {
	case kindAbsent, kindNull:
	case kindNumber:
		v, err := strconv.ParseFloat(s.raw(sp), 64)
		if err != nil || v < 0 {
			c.invalid(&s, ev, fLatencyMs, sp)
			break
		}
		ev.LatencyMs = v + 0 // turns -0 into 0
		ev.HasLatency = true
	default:
		c.invalid(&s, ev, fLatencyMs, sp)
	}

	c.setTime(&s, ev, f[fTimestamp], kafkaTime)
	c.enrich(ev, f[fErrorMessage].kind == kindString, f[fErrorURL].kind == kindString)
	return Rejection{}, true
}

// invalid keeps a known optional field with an invalid value as an attribute.
func (c *Checker) invalid(s *scanner, ev *Event, field int, sp span) {
	ev.Flags |= FlagInvalidField
	ev.Attributes = append(ev.Attributes, Attribute{Key: fieldNames[field], Value: s.raw(sp)})
}

func (c *Checker) optString(s *scanner, ev *Event, field int, sp span) string {
	switch sp.kind {
	case kindAbsent, kindNull:
		return ""
	case kindString:
		return s.str(sp)
	}
	c.invalid(s, ev, field, sp)
	return ""
}

func (c *Checker) setTime(s *scanner, ev *Event, sp span, kafkaTime time.Time) {
	ev.Time = kafkaTime.UTC()
	var t time.Time
	var ok bool
	switch sp.kind {
	case kindAbsent, kindNull:
		return
	case kindString:
		t, ok = parseRFC3339(s.str(sp))
	case kindNumber:
		t, ok = parseEpochMs(s.raw(sp), sp.isInt)
	default:
		// Wrong JSON type: both an invalid field and an unused timestamp.
		ev.Flags |= FlagBadTimestamp
		c.invalid(s, ev, fTimestamp, sp)
		return
	}
	// A time the events table cannot hold is as unusable as an unparseable one.
	ok = ok && Storable(t)
	if ok && !kafkaTime.IsZero() {
		d := t.Sub(kafkaTime)
		ok = d <= c.maxSkew && d >= -c.maxSkew
	}
	if !ok {
		ev.Flags |= FlagBadTimestamp
		ev.Attributes = append(ev.Attributes, Attribute{Key: fieldNames[fTimestamp], Value: s.raw(sp)})
		return
	}
	ev.Time = t
}

func (c *Checker) enrich(ev *Event, hasMessage, hasURL bool) {
	ev.CatalogVersion = c.version
	if c.cat != nil {
		if e, n, ok := c.cat.Numbered(ev.ErrorType); ok && e != nil {
			ev.Known, ev.Entry, ev.EntryNumber = true, e, n
			ev.ErrorType, ev.Category, ev.Actor = e.ErrorType, e.Category, e.Actor
			if int(ev.StatusCode) != e.StatusCode {
				ev.Flags |= FlagStatusMismatch
			}
			// An absent field, or an entry without an example, has nothing to compare. A
			// match takes the entry's string (the same text), so that nothing of the event's
			// catalog values refers to the payload.
			if hasMessage && e.ErrorMessage != "" {
				if ev.ErrorMessage != e.ErrorMessage {
					ev.Flags |= FlagMessageMismatch
				} else {
					ev.ErrorMessage = e.ErrorMessage
				}
			}
			if hasURL && e.ErrorURL != "" {
				if ev.ErrorURL != e.ErrorURL {
					ev.Flags |= FlagURLMismatch
				} else {
					ev.ErrorURL = e.ErrorURL
				}
			}
			return
		}
	}
	ev.Flags |= FlagUnknownErrorType
	ev.Category, ev.Actor = Unknown, Unknown
}

// validErrorType reports whether s matches ^[a-z0-9_]{1,128}$.
func validErrorType(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

const (
	prefixTest = "request-id-test-"
	prefixLive = "request-id-live-"
)

func environment(requestID string) string {
	if len(requestID) >= len(prefixTest) {
		switch requestID[:len(prefixTest)] {
		case prefixTest:
			return EnvTest
		case prefixLive:
			return EnvLive
		}
	}
	return EnvUnknown
}

// uuidHex lists the positions of a uuid's 32 hex digits.
var uuidHex = [32]uint8{0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 19, 20, 21, 22,
	24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35}

// validRequestID reports whether id is request-id-(test|live)-<uuid>, the
// uuid in 8-4-4-4-12 hex digits of either case.
func validRequestID(id string) bool {
	if len(id) != len(prefixTest)+36 || environment(id) == EnvUnknown {
		return false
	}
	u := id[len(prefixTest):]
	if u[8] != '-' || u[13] != '-' || u[18] != '-' || u[23] != '-' {
		return false
	}
	var bad int8 // any negative hexVal makes it negative
	for _, i := range uuidHex {
		bad |= hexVal[u[i]]
	}
	return bad >= 0
}

// maxDetail bounds how much of a value a rejection detail quotes.
const maxDetail = 40

// short truncates s for a detail, at a rune boundary.
func short(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	n := maxDetail
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func quoteShort(s string) string { return strconv.Quote(short(s)) }

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}
