package event

import (
	"time"

	"github.com/faultline/faultline/catalog"
)

// Defaults used for zero (or negative) Options fields.
const (
	DefaultMaxMessageBytes = 64 << 10
	DefaultMaxClockSkew    = 24 * time.Hour
)

// Options tune a Checker. Zero values mean the defaults.
type Options struct {
	// MaxMessageBytes rejects longer payloads as too_large before decoding
	// (default DefaultMaxMessageBytes).
	MaxMessageBytes int
	// MaxClockSkew is how far an envelope timestamp may be from the Kafka
	// message time, either way, before it is flagged bad_timestamp and the
	// Kafka time is used instead (default DefaultMaxClockSkew).
	MaxClockSkew time.Duration
}

// Catalog is what the checker needs from the error catalog; *catalog.Catalog
// implements it. Numbered must be safe for concurrent use and should not allocate;
// see catalog.Catalog.Numbered for what the number is.
type Catalog interface {
	Numbered(errorType string) (e *catalog.Entry, number int, ok bool)
	Version() string
}

// Attribute is an envelope field that is not part of the typed contract: an
// unknown key, or a known optional field whose value was invalid.
type Attribute struct {
	Key   string
	Value string // the value's raw JSON text, exactly as in the payload
}

// Event is one accepted message, decoded, checked and enriched.
//
// Strings alias the payload passed to Check unless they had to be unescaped;
// the payload must not be modified while the Event is in use.
type Event struct {
	// Time is the envelope timestamp when present and valid, else the Kafka
	// message time; always in UTC.
	Time       time.Time
	StatusCode uint16
	RequestID  string
	ErrorType  string
	// ErrorMessage and ErrorURL are empty when absent (or null).
	ErrorMessage string
	ErrorURL     string

	// Optional envelope fields; empty when absent, null or invalid.
	Method         string
	Path           string
	ProjectID      string
	OrganizationID string
	MemberID       string
	Client         string // SDK or user agent
	Region         string
	LatencyMs      float64
	HasLatency     bool // LatencyMs was present and valid

	// Attributes are the unknown keys in order of first appearance (a repeated
	// key keeps its last value), then the known optional fields that were kept
	// because their value was invalid (see FlagInvalidField, FlagBadTimestamp).
	// The next Check on the same Event reuses the backing array: clone the
	// slice to keep it beyond that.
	Attributes []Attribute
	Flags      Flags
	// Environment is "test" or "live" from the request_id prefix, else "unknown".
	Environment string

	// Enrichment from the catalog: "unknown" category and actor for types
	// the catalog does not know.
	Category       string
	Actor          string
	Known          bool
	CatalogVersion string
	// Entry is the catalog's entry for a Known type (nil otherwise) and EntryNumber its
	// number in that catalog. ErrorType, Category, Actor, and ErrorMessage and ErrorURL when
	// they equal the entry's, are then the entry's own strings, not the payload's: a
	// batch encodes them by the number, without hashing them.
	Entry       *catalog.Entry
	EntryNumber int

	// attrIndex finds attributes by key once there are many of them, so that a
	// hostile payload with thousands of keys stays linear.
	attrIndex map[string]int32
}

// Environment values.
const (
	EnvTest    = "test"
	EnvLive    = "live"
	EnvUnknown = "unknown"
)

// Unknown is the Category and Actor of an error type the catalog does not know.
const Unknown = "unknown"

// attrLinear is how many attributes are searched linearly for duplicates
// before attrIndex is used.
const attrLinear = 16

// Reset empties ev and keeps its attribute memory for the next Check: afterwards no string
// of ev refers to the payload it was decoded from.
func (ev *Event) Reset() {
	clear(ev.Attributes)
	attrs, idx := ev.Attributes[:0], ev.attrIndex
	clear(idx)
	*ev = Event{Attributes: attrs, attrIndex: idx}
}

// setAttr adds an attribute, or replaces the value of an existing one with the
// same key (the last duplicate key wins).
func (ev *Event) setAttr(key, val string) {
	a := ev.Attributes
	if len(a) < attrLinear {
		for i := range a {
			if a[i].Key == key {
				a[i].Value = val
				return
			}
		}
		ev.Attributes = append(a, Attribute{Key: key, Value: val})
		return
	}
	if ev.attrIndex == nil {
		ev.attrIndex = make(map[string]int32, 2*attrLinear)
	}
	if len(ev.attrIndex) == 0 {
		for i := range a {
			ev.attrIndex[a[i].Key] = int32(i)
		}
	}
	if i, ok := ev.attrIndex[key]; ok {
		a[i].Value = val
		return
	}
	ev.attrIndex[key] = int32(len(a))
	ev.Attributes = append(a, Attribute{Key: key, Value: val})
}

// Attr returns the raw JSON text of attribute key.
func (ev *Event) Attr(key string) (string, bool) {
	for _, a := range ev.Attributes {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}
