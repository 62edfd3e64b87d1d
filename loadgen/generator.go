package loadgen

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/faultline/faultline/catalog"
)

// Message is one generated Kafka message and what the ingester is meant to
// make of it.
type Message struct {
	// Key is the Kafka key: the organization id of an envelope that has one,
	// else the request id (or a random id when there is none). Key and Value
	// share one allocation and are never reused by the Generator.
	Key, Value []byte
	// Time is the Kafka message time (the now passed to Next).
	Time time.Time
	Kind Kind
	// ErrorType is the error_type sent. For KindRejected it is the catalog
	// type the message was built from (it is not counted as an event).
	ErrorType string
	// Reason is the reject reason for KindRejected, else "".
	Reason string
	// Flag is the one flag the ingester must set for KindFlagged and
	// KindUnknown (FlagUnknownErrorType), else "".
	Flag string
	// Variant names how the message was built: "clean", "spike" (a clean
	// extra of a spiking type), or the malformed variant ("truncated_json",
	// "status_mismatch", ...).
	Variant string
	// Environment is what the ingester derives from the request id prefix:
	// EnvLive, EnvTest or EnvUnknown.
	Environment string
	// Envelope reports whether the message is an envelope (else a bare body
	// or a malformed payload).
	Envelope bool
}

// variant is one way of making a malformed message.
type variant struct {
	name   string
	kind   Kind // KindRejected or KindFlagged
	reason string
	flag   string
	weight float64
}

// variants is a constant table (never written). Oversize messages are 70 KB,
// so they are rarer than the rest to keep the byte volume realistic.
var variants = [...]variant{
	{"not_json", KindRejected, ReasonNotJSONObject, "", 1},
	{"truncated_json", KindRejected, ReasonNotJSONObject, "", 1},
	{"json_array", KindRejected, ReasonNotJSONObject, "", 1},
	{"invalid_utf8", KindRejected, ReasonInvalidUTF8, "", 1},
	{"oversize", KindRejected, ReasonTooLarge, "", 0.2},
	{"missing_error_type", KindRejected, ReasonMissingErrorType, "", 1},
	{"invalid_error_type", KindRejected, ReasonInvalidErrorType, "", 1},
	{"missing_status_code", KindRejected, ReasonMissingStatusCode, "", 1},
	{"invalid_status_code", KindRejected, ReasonInvalidStatusCode, "", 1},
	{"status_mismatch", KindFlagged, "", FlagStatusMismatch, 1},
	{"message_mismatch", KindFlagged, "", FlagMessageMismatch, 1},
	{"url_mismatch", KindFlagged, "", FlagURLMismatch, 1},
	{"missing_request_id", KindFlagged, "", FlagMissingRequestID, 1},
	{"malformed_request_id", KindFlagged, "", FlagMalformedRequestID, 1},
	{"bad_timestamp", KindFlagged, "", FlagBadTimestamp, 1},
	{"invalid_field", KindFlagged, "", FlagInvalidField, 1},
}

// Variants returns the names of the malformed variants, each with the reject
// reason or flag it is built to produce.
func Variants() []struct{ Name, Reason, Flag string } {
	out := make([]struct{ Name, Reason, Flag string }, len(variants))
	for i, v := range variants {
		out[i].Name, out[i].Reason, out[i].Flag = v.name, v.reason, v.flag
	}
	return out
}

type entry struct {
	errorType string
	status    int
	msgJSON   []byte // the catalog message as a JSON string literal
	urlJSON   []byte
	method    string
	path      string
}

type project struct {
	id      []byte
	orgs    [][]byte
	orgsCDF []float64
}

type spikeState struct {
	Spike
	entry int     // index into Generator.entries
	extra float64 // (Factor-1) * the type's usual share of all messages
}

// Generator makes messages. It is not safe for concurrent use.
type Generator struct {
	opts     Options
	rng      *rand.Rand
	entries  []entry   // in rank order: entries[0] is the most frequent type
	cdf      []float64 // cumulative Zipf weights of entries, last is 1
	unknown  []string
	unkCDF   []float64
	projects [2][]project // [0] live, [1] test
	projCDF  []float64
	varCDF   []float64 // cumulative weights of variants, last is 1
	// flaggedOfKnown is the chance that a message of a catalog type is
	// flagged rather than clean; spike extras follow the same mix.
	flaggedOfKnown float64
	knownShare     float64 // chance that a message is an accepted event of a catalog type
	spikes         []spikeState
	start          time.Time
	started        bool
	exp            Expected
	buf            []byte // the value being built
	kbuf           []byte // the key being built
}

// New returns a Generator over cat's entries. It panics if opts.Validate(cat)
// fails: check user input with Validate first.
func New(cat *catalog.Catalog, opts Options) *Generator {
	if err := opts.Validate(cat); err != nil {
		panic(err)
	}
	if opts.Skew == 0 {
		opts.Skew = DefaultSkew
	}
	if opts.Projects == 0 {
		opts.Projects = DefaultProjects
	}
	if opts.OrgsPerProject == 0 {
		opts.OrgsPerProject = DefaultOrgsPerProject
	}
	if opts.UnknownTypes == nil {
		opts.UnknownTypes = DefaultUnknownTypes()
	}
	g := &Generator{
		opts:  opts,
		rng:   rand.New(rand.NewPCG(opts.Seed, 0x6661756c746c696e)), // "faultlin"
		exp:   NewExpected(),
		start: opts.Start,
	}
	g.started = !opts.Start.IsZero()

	// Rank the catalog types in a seed-dependent order, so that which type
	// is "hot" varies with the seed but not between runs of one seed.
	all := cat.Entries()
	perm := g.rng.Perm(len(all))
	if opts.Stream != 0 {
		// Same ranking, other messages: a history and a live run of one seed share their
		// hot types but no request ids.
		g.rng = rand.New(rand.NewPCG(opts.Seed, opts.Stream))
	}
	g.entries = make([]entry, len(all))
	weights := make([]float64, len(all))
	for rank, i := range perm {
		e := all[i]
		msg, _ := json.Marshal(e.ErrorMessage)
		url, _ := json.Marshal(e.ErrorURL)
		method, path := endpoint(e.Category)
		g.entries[rank] = entry{errorType: e.ErrorType, status: e.StatusCode, msgJSON: msg, urlJSON: url, method: method, path: path}
		weights[rank] = 1 / math.Pow(float64(rank+1), opts.Skew)
	}
	g.cdf = cumulative(weights)

	g.unknown = append([]string(nil), opts.UnknownTypes...)
	g.unkCDF = cumulative(zipfWeights(len(g.unknown), 1))
	if len(g.unknown) == 0 {
		// An unknown share with no pool to draw from makes catalog-free
		// types up, still well-formed.
		g.unknown = []string{"unlisted_error"}
		g.unkCDF = []float64{1}
	}

	g.projCDF = cumulative(zipfWeights(opts.Projects, 1))
	orgCDF := cumulative(zipfWeights(opts.OrgsPerProject, 1))
	for env, name := range [2]string{"live", "test"} {
		g.projects[env] = make([]project, opts.Projects)
		for p := range g.projects[env] {
			pr := project{id: g.appendUUID([]byte("project-" + name + "-")), orgs: make([][]byte, opts.OrgsPerProject), orgsCDF: orgCDF}
			for o := range pr.orgs {
				pr.orgs[o] = g.appendUUID([]byte("organization-" + name + "-"))
			}
			g.projects[env][p] = pr
		}
	}

	vw := make([]float64, len(variants))
	var flaggedW, totalW float64
	for i, v := range variants {
		vw[i] = v.weight
		totalW += v.weight
		if v.kind == KindFlagged {
			flaggedW += v.weight
		}
	}
	g.varCDF = cumulative(vw)
	flaggedShare := opts.MalformedShare * flaggedW / totalW
	knownShare := 1 - opts.MalformedShare - opts.UnknownShare + flaggedShare
	if knownShare > 0 {
		g.flaggedOfKnown = flaggedShare / knownShare
	}
	g.knownShare = knownShare
	for _, s := range opts.Spikes {
		for i := range g.entries {
			if g.entries[i].errorType == s.ErrorType {
				p := weights[i] / sum(weights)
				g.spikes = append(g.spikes, spikeState{Spike: s, entry: i, extra: (s.Factor - 1) * p * knownShare})
			}
		}
	}
	return g
}

// Options returns the options in effect (defaults filled in).
func (g *Generator) Options() Options { return g.opts }

// Expected returns the ground truth of every message made so far. The
// caller owns the copy.
func (g *Generator) Expected() Expected { return g.exp.Clone() }

// TypeShare returns the usual (outside spikes) probability that a message is
// an accepted event of errorType, clean or flagged. It is 0 for types not in
// the catalog.
func (g *Generator) TypeShare(errorType string) float64 {
	for i := range g.entries {
		if g.entries[i].errorType == errorType {
			p := g.cdf[i]
			if i > 0 {
				p -= g.cdf[i-1]
			}
			return p * g.knownShare
		}
	}
	return 0
}

// RateFactor returns how much the total rate at now differs from the mean
// rate: the daily shape (Options.DailyAmplitude) times 1 + sum of (Factor-1) *
// usual share of each spiking type. A producer paces at rate *
// RateFactor(now), which keeps every other type at its usual rate.
func (g *Generator) RateFactor(now time.Time) float64 {
	return DailyShape(now, g.opts.DailyAmplitude) * (1 + g.spikeExtra(now))
}

func (g *Generator) spikeExtra(now time.Time) float64 {
	if len(g.spikes) == 0 {
		return 0
	}
	if !g.started {
		g.start, g.started = now, true
	}
	elapsed := now.Sub(g.start)
	var extra float64
	for i := range g.spikes {
		if g.spikes[i].Active(elapsed) {
			extra += g.spikes[i].extra
		}
	}
	return extra
}

// Next makes the next message at time now (its Kafka time; envelope
// timestamps are a few milliseconds before it).
func (g *Generator) Next(now time.Time) Message {
	if !g.started {
		g.start, g.started = now, true
	}
	m := g.next(now)
	g.exp.Add(&m)
	return m
}

func (g *Generator) next(now time.Time) Message {
	if extra := g.spikeExtra(now); extra > 0 {
		// With probability extra/(1+extra) this message is one of the extra
		// events of a spiking type, in the usual clean/flagged mix.
		if u := g.rng.Float64() * (1 + extra); u >= 1 {
			u--
			s := &g.spikes[len(g.spikes)-1]
			for i := range g.spikes {
				if !g.spikes[i].Active(now.Sub(g.start)) {
					continue
				}
				if u < g.spikes[i].extra {
					s = &g.spikes[i]
					break
				}
				u -= g.spikes[i].extra
			}
			if g.rng.Float64() < g.flaggedOfKnown {
				return g.malformed(now, g.pickFlagged(), s.entry)
			}
			m := g.clean(now, s.entry)
			m.Variant = "spike"
			return m
		}
	}
	u := g.rng.Float64()
	switch {
	case u < g.opts.MalformedShare:
		return g.malformed(now, pick(g.varCDF, g.rng.Float64()), pick(g.cdf, g.rng.Float64()))
	case u < g.opts.MalformedShare+g.opts.UnknownShare:
		return g.unknownMsg(now)
	default:
		return g.clean(now, pick(g.cdf, g.rng.Float64()))
	}
}

// pickFlagged picks a flagged variant by weight.
func (g *Generator) pickFlagged() int {
	for {
		if v := pick(g.varCDF, g.rng.Float64()); variants[v].kind == KindFlagged {
			return v
		}
	}
}

func zipfWeights(n int, s float64) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+1), s)
	}
	return w
}

func sum(w []float64) float64 {
	var t float64
	for _, x := range w {
		t += x
	}
	return t
}

// cumulative returns the normalized cumulative sums of w (last = 1).
func cumulative(w []float64) []float64 {
	t := sum(w)
	c := make([]float64, len(w))
	var acc float64
	for i, x := range w {
		acc += x
		c[i] = acc / t
	}
	if len(c) > 0 {
		c[len(c)-1] = 1
	}
	return c
}

// pick returns the index whose cumulative bucket holds u in [0,1).
func pick(cdf []float64, u float64) int {
	i := sort.SearchFloat64s(cdf, u)
	if i < len(cdf) && cdf[i] == u {
		i++ // SearchFloat64s finds the first >= u; buckets are half-open
	}
	if i >= len(cdf) {
		i = len(cdf) - 1
	}
	return i
}

// pickSkewed picks 0..n-1 with weights 1/(i+1).
func pickSkewed(r *rand.Rand, n int) int {
	u := r.Float64() * harmonic(n)
	for i := 0; i < n; i++ {
		u -= 1 / float64(i+1)
		if u < 0 {
			return i
		}
	}
	return n - 1
}

func harmonic(n int) float64 {
	var h float64
	for i := 1; i <= n; i++ {
		h += 1 / float64(i)
	}
	return h
}
