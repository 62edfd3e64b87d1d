package loadgen

// Expected is exact ground truth for a set of generated messages: what the
// ingester must store, flag and reject. Maps have an entry only for keys that
// occurred.
type Expected struct {
	// Total messages.
	Total int64 `json:"total"`
	// Bytes of all values.
	Bytes int64 `json:"bytes"`
	// Accepted messages (stored as events) and Rejected ones (quarantined).
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	// ByErrorType counts accepted events per error_type (catalog and unknown
	// types; clean and flagged).
	ByErrorType map[string]int64 `json:"accepted_by_error_type"`
	// ByReason counts rejected messages per reject reason.
	ByReason map[string]int64 `json:"rejected_by_reason"`
	// ByFlag counts accepted events per flag. Each event carries at most one
	// flag, so the values sum to the flagged plus unknown messages.
	ByFlag map[string]int64 `json:"flags"`
	// ByKind counts messages per Kind name.
	ByKind map[string]int64 `json:"by_kind"`
	// ByVariant counts messages per Message.Variant.
	ByVariant map[string]int64 `json:"by_variant"`
	// ByEnvironment counts accepted events per environment (live, test,
	// unknown for a missing or foreign request id prefix).
	ByEnvironment map[string]int64 `json:"accepted_by_environment"`
	// Envelopes counts accepted events sent as envelopes.
	Envelopes int64 `json:"accepted_envelopes"`
}

// NewExpected returns an empty Expected with its maps made.
func NewExpected() Expected {
	return Expected{
		ByErrorType:   map[string]int64{},
		ByReason:      map[string]int64{},
		ByFlag:        map[string]int64{},
		ByKind:        map[string]int64{},
		ByVariant:     map[string]int64{},
		ByEnvironment: map[string]int64{},
	}
}

// Add counts m.
func (e *Expected) Add(m *Message) {
	if e.ByErrorType == nil {
		*e = mergeInto(NewExpected(), *e)
	}
	e.Total++
	e.Bytes += int64(len(m.Value))
	e.ByKind[m.Kind.String()]++
	e.ByVariant[m.Variant]++
	if !m.Kind.Accepted() {
		e.Rejected++
		e.ByReason[m.Reason]++
		return
	}
	e.Accepted++
	e.ByErrorType[m.ErrorType]++
	e.ByEnvironment[m.Environment]++
	if m.Flag != "" {
		e.ByFlag[m.Flag]++
	}
	if m.Envelope {
		e.Envelopes++
	}
}

// Merge adds the counts of o to e.
func (e *Expected) Merge(o Expected) { *e = mergeInto(*e, o) }

// Clone returns a deep copy of e.
func (e Expected) Clone() Expected { return mergeInto(NewExpected(), e) }

func mergeInto(dst, o Expected) Expected {
	if dst.ByErrorType == nil {
		n := NewExpected()
		n.Total, n.Bytes, n.Accepted, n.Rejected, n.Envelopes = dst.Total, dst.Bytes, dst.Accepted, dst.Rejected, dst.Envelopes
		dst = n
	}
	dst.Total += o.Total
	dst.Bytes += o.Bytes
	dst.Accepted += o.Accepted
	dst.Rejected += o.Rejected
	dst.Envelopes += o.Envelopes
	for _, p := range [...]struct{ to, from map[string]int64 }{
		{dst.ByErrorType, o.ByErrorType}, {dst.ByReason, o.ByReason}, {dst.ByFlag, o.ByFlag},
		{dst.ByKind, o.ByKind}, {dst.ByVariant, o.ByVariant}, {dst.ByEnvironment, o.ByEnvironment},
	} {
		for k, v := range p.from {
			p.to[k] += v
		}
	}
	return dst
}
