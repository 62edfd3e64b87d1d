package event

// Reason says why a message was rejected. The values are stable: they are
// Prometheus label values and ClickHouse column values.
type Reason string

// Rejection reasons, in the order in which Check tests them.
const (
	// ReasonTooLarge: the payload is longer than Options.MaxMessageBytes.
	// Tested before anything is decoded.
	ReasonTooLarge Reason = "too_large"
	// ReasonInvalidUTF8: the payload is not valid UTF-8.
	ReasonInvalidUTF8 Reason = "invalid_utf8"
	// ReasonNotJSONObject: the payload is not exactly one JSON object
	// (malformed JSON, trailing garbage, empty, or another JSON value).
	ReasonNotJSONObject Reason = "not_json_object"
	// ReasonMissingErrorType: error_type is absent or null.
	ReasonMissingErrorType Reason = "missing_error_type"
	// ReasonInvalidErrorType: error_type is not a string matching ^[a-z0-9_]{1,128}$.
	ReasonInvalidErrorType Reason = "invalid_error_type"
	// ReasonMissingStatusCode: status_code is absent or null.
	ReasonMissingStatusCode Reason = "missing_status_code"
	// ReasonInvalidStatusCode: status_code is not a JSON integer literal (no
	// fraction, no exponent) within 100..599.
	ReasonInvalidStatusCode Reason = "invalid_status_code"
)

var allReasons = [...]Reason{
	ReasonTooLarge,
	ReasonInvalidUTF8,
	ReasonNotJSONObject,
	ReasonMissingErrorType,
	ReasonInvalidErrorType,
	ReasonMissingStatusCode,
	ReasonInvalidStatusCode,
}

// AllReasons returns every Reason, so that metrics can export a zero for each
// label value at start. The caller owns the returned slice.
func AllReasons() []Reason {
	out := make([]Reason, len(allReasons))
	copy(out, allReasons[:])
	return out
}

// Valid reports whether r is one of the Reason constants.
func (r Reason) Valid() bool {
	for _, x := range allReasons {
		if r == x {
			return true
		}
	}
	return false
}

// Rejection is the outcome of a rejected message.
type Rejection struct {
	// Reason is one of the Reason constants.
	Reason Reason
	// Detail is a short human-readable explanation (never the whole payload).
	Detail string
}
