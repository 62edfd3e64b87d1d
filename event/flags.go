package event

import "strings"

// Flags is a set of data-quality findings on an accepted event. Each flag is one
// bit; the names are stable (they are metric label values and DB values).
type Flags uint16

// The flags. Their bit positions may change between releases; their names may not.
const (
	// FlagUnknownErrorType: error_type is well-formed but not in the catalog.
	FlagUnknownErrorType Flags = 1 << iota
	// FlagStatusMismatch: status_code differs from the catalog entry's.
	FlagStatusMismatch
	// FlagMessageMismatch: error_message is present and differs from the
	// catalog entry's example message.
	FlagMessageMismatch
	// FlagURLMismatch: error_url is present and differs from the catalog
	// entry's example URL.
	FlagURLMismatch
	// FlagMissingRequestID: request_id is absent or null.
	FlagMissingRequestID
	// FlagMalformedRequestID: request_id is present but not
	// request-id-(test|live)-<uuid> (includes a request_id of the wrong JSON type).
	FlagMalformedRequestID
	// FlagBadTimestamp: the envelope timestamp was not used, because it is
	// unparseable, of the wrong type, or further than Options.MaxClockSkew from
	// the Kafka time, or outside what a DateTime column holds (see Storable);
	// the original value is kept as attribute "timestamp". The ingester also sets
	// it when the Kafka record time itself is unusable (attribute
	// "kafka_timestamp", epoch milliseconds).
	FlagBadTimestamp
	// FlagInvalidField: a known optional field had the wrong JSON type or an
	// invalid value; it is kept as an attribute under its own key.
	FlagInvalidField

	flagEnd
)

var flagNames = [...]string{
	"unknown_error_type",
	"status_mismatch",
	"message_mismatch",
	"url_mismatch",
	"missing_request_id",
	"malformed_request_id",
	"bad_timestamp",
	"invalid_field",
}

// AllFlags returns every single flag, in bit order, so that metrics can export a
// zero for each label value at start. The caller owns the returned slice.
func AllFlags() []Flags {
	out := make([]Flags, 0, len(flagNames))
	for f := Flags(1); f < flagEnd; f <<= 1 {
		out = append(out, f)
	}
	return out
}

// Has reports whether every flag in g is set in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

// AppendNames appends the name of each set flag, in bit order, to dst.
// It does not allocate when dst has room.
func (f Flags) AppendNames(dst []string) []string {
	for i, name := range flagNames {
		if f&(1<<i) != 0 {
			dst = append(dst, name)
		}
	}
	return dst
}

// Names returns the name of each set flag, in bit order (nil when none is set).
func (f Flags) Names() []string {
	if f == 0 {
		return nil
	}
	return f.AppendNames(nil)
}

// String returns the flag's name for a single flag, the names joined by "|" for
// several, and "" for none. Bits without a name print as "flag(0x...)".
func (f Flags) String() string {
	for i, name := range flagNames {
		if f == 1<<i {
			return name
		}
	}
	var b strings.Builder
	for i, name := range flagNames {
		if f&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(name)
		}
	}
	if rest := f &^ (flagEnd - 1); rest != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		const hex = "0123456789abcdef"
		b.WriteString("flag(0x")
		for s := 12; s >= 0; s -= 4 {
			b.WriteByte(hex[(rest>>s)&0xf])
		}
		b.WriteByte(')')
	}
	return b.String()
}
