package loadgen

// Kind is what the ingester is meant to make of a message.
type Kind uint8

// The kinds of message a Generator makes.
const (
	// KindAccepted: a catalog error type with nothing to flag.
	KindAccepted Kind = iota
	// KindFlagged: accepted with exactly one data-quality flag (Message.Flag),
	// e.g. a status/message mismatch or a malformed request id.
	KindFlagged
	// KindUnknown: accepted, error_type well-formed but not in the catalog
	// (the ingester flags it unknown_error_type).
	KindUnknown
	// KindRejected: quarantined by the ingester for Message.Reason.
	KindRejected

	numKinds
)

var kindNames = [numKinds]string{"accepted", "flagged", "unknown", "rejected"}

// String returns the kind's stable name: accepted, flagged, unknown, rejected.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "invalid"
}

// Accepted reports whether the ingester stores a message of this kind as an
// event (every kind but KindRejected).
func (k Kind) Accepted() bool { return k < KindRejected }

// Reject reasons, spelled as the ingester's event.Reason values (they are
// ClickHouse column values and metric labels, so they are stable).
const (
	ReasonTooLarge          = "too_large"
	ReasonInvalidUTF8       = "invalid_utf8"
	ReasonNotJSONObject     = "not_json_object"
	ReasonMissingErrorType  = "missing_error_type"
	ReasonInvalidErrorType  = "invalid_error_type"
	ReasonMissingStatusCode = "missing_status_code"
	ReasonInvalidStatusCode = "invalid_status_code"
)

// Flags a generated message is built to carry, spelled as the ingester's
// event.Flags names. A flagged message carries exactly one of them.
const (
	FlagUnknownErrorType   = "unknown_error_type"
	FlagStatusMismatch     = "status_mismatch"
	FlagMessageMismatch    = "message_mismatch"
	FlagURLMismatch        = "url_mismatch"
	FlagMissingRequestID   = "missing_request_id"
	FlagMalformedRequestID = "malformed_request_id"
	FlagBadTimestamp       = "bad_timestamp"
	FlagInvalidField       = "invalid_field"
)

// Environments, as the ingester derives them from the request id prefix.
const (
	EnvLive    = "live"
	EnvTest    = "test"
	EnvUnknown = "unknown"
)

// MaxMessageBytes is the ingester's default size limit: longer payloads are
// rejected as too_large. Oversize messages are built to exceed it.
const MaxMessageBytes = 64 << 10
