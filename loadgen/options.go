package loadgen

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/faultline/faultline/catalog"
)

// Options configure a Generator. Shares are fractions of all messages made
// outside spikes; a zero share means none. Zero pool sizes and skew take the
// defaults below. Start from DefaultOptions rather than a zero Options.
type Options struct {
	// Seed makes the Generator reproducible: same catalog, options and
	// sequence of Next times give byte-identical messages.
	Seed uint64
	// MalformedShare of messages are malformed: rejected (every reject
	// reason) or accepted with one data-quality flag.
	MalformedShare float64
	// UnknownShare of messages carry a well-formed error_type that is not in
	// the catalog (from UnknownTypes).
	UnknownShare float64
	// EnvelopeShare of well-formed messages are envelopes (timestamp, method,
	// path, organization, ...); the rest are bare API bodies.
	EnvelopeShare float64
	// LiveShare of request ids are request-id-live-..., the rest -test-.
	LiveShare float64
	// Skew is the Zipf exponent of the error type distribution (default 1.1):
	// the type of rank r has weight 1/r^Skew.
	Skew float64
	// Projects per environment (default 20) and OrgsPerProject (default 50)
	// bound the pools of project and organization ids; both are picked with a
	// Zipf skew, so a few customers produce most errors.
	Projects       int
	OrgsPerProject int
	// UnknownTypes is the pool of not-in-catalog error types (default a
	// small built-in pool). Each must match ^[a-z0-9_]{1,128}$ and must not be
	// in the catalog.
	UnknownTypes []string
	// Spikes raise one error type's rate for a while.
	Spikes []Spike
	// Stream, when not 0, draws the messages from another random stream of the
	// same Seed: the error types keep their ranking (which is hot), the request
	// ids and orgs differ. Back-dated history uses it so it matches the live run.
	Stream uint64
	// DailyAmplitude shapes the rate over the day (RateFactor): 0 is flat, 0.5
	// runs from half the mean rate at night to 1.5 times it at PeakHour.
	DailyAmplitude float64
	// Start is the run start that spike offsets count from; zero means the
	// time of the first Next (or RateFactor) call.
	Start time.Time
}

// Defaults of Options (and of the loadgen command's flags).
const (
	DefaultMalformedShare = 0.02
	DefaultUnknownShare   = 0.01
	DefaultEnvelopeShare  = 0.5
	DefaultLiveShare      = 0.7
	DefaultSkew           = 1.1
	DefaultProjects       = 20
	DefaultOrgsPerProject = 50
)

// DefaultUnknownTypes returns the default pool of error types that are not in
// the catalog: plausible names, as a newer API version would send.
func DefaultUnknownTypes() []string {
	return []string{
		"legacy_session_expired",
		"scim_group_sync_conflict",
		"passkey_attestation_rejected",
		"webhook_signature_mismatch",
		"organization_quota_exceeded_v2",
		"totp_rate_limited_v2",
	}
}

// DefaultOptions returns the options of the loadgen command's defaults with
// seed 1.
func DefaultOptions() Options {
	return Options{
		Seed:           1,
		MalformedShare: DefaultMalformedShare,
		UnknownShare:   DefaultUnknownShare,
		EnvelopeShare:  DefaultEnvelopeShare,
		LiveShare:      DefaultLiveShare,
	}
}

var errorTypeRe = regexp.MustCompile(`^[a-z0-9_]{1,128}$`)

// Validate reports the first problem of o for catalog cat, naming the option.
// New panics on options Validate rejects, so check user input with it first.
func (o Options) Validate(cat *catalog.Catalog) error {
	if cat == nil || cat.Len() == 0 {
		return errors.New("loadgen: the catalog is empty")
	}
	for _, s := range []struct {
		name string
		v    float64
	}{
		{"malformed share", o.MalformedShare}, {"unknown share", o.UnknownShare},
		{"envelope share", o.EnvelopeShare}, {"live share", o.LiveShare},
	} {
		if !(s.v >= 0 && s.v <= 1) { // also catches NaN
			return fmt.Errorf("loadgen: %s %v is not within 0..1", s.name, s.v)
		}
	}
	if o.MalformedShare+o.UnknownShare > 1 {
		return fmt.Errorf("loadgen: malformed share %v + unknown share %v exceed 1", o.MalformedShare, o.UnknownShare)
	}
	if !(o.DailyAmplitude >= 0 && o.DailyAmplitude < 1) {
		return fmt.Errorf("loadgen: daily amplitude %v is not within 0..1 (1 would stop traffic at night)", o.DailyAmplitude)
	}
	if o.Skew < 0 {
		return fmt.Errorf("loadgen: skew %v is negative", o.Skew)
	}
	if o.Projects < 0 || o.OrgsPerProject < 0 {
		return fmt.Errorf("loadgen: projects %d and orgs per project %d must not be negative", o.Projects, o.OrgsPerProject)
	}
	for _, u := range o.UnknownTypes {
		if !errorTypeRe.MatchString(u) {
			return fmt.Errorf("loadgen: unknown type %q does not match ^[a-z0-9_]{1,128}$", u)
		}
		if _, ok := cat.Lookup(u); ok {
			return fmt.Errorf("loadgen: unknown type %q is in the catalog", u)
		}
	}
	for _, s := range o.Spikes {
		if err := s.validate(); err != nil {
			return fmt.Errorf("loadgen: spike %s: %w", s, err)
		}
		if _, ok := cat.Lookup(s.ErrorType); !ok {
			return fmt.Errorf("loadgen: spike %s: error type %q is not in the catalog", s, s.ErrorType)
		}
	}
	return nil
}
