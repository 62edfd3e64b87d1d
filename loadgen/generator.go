package loadgen

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
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

// draft is one well-formed message under construction; the malformed
// variants change one part of it.
type draft struct {
	e          *entry
	status     int
	envelope   bool
	rid        []byte // nil: no request_id
	env        string
	org        []byte // envelope only
	proj       []byte
	latencyMs  float64
	msgSuffix  string // appended inside error_message
	urlJSON    []byte // overrides e.urlJSON
	rawStatus  string // overrides status ("-" omits the field)
	rawType    string // overrides error_type ("-" omits the field)
	rawTS      string // overrides the envelope timestamp
	rawLatency string // overrides latency_ms
	badUTF8    bool
	pad        int // bytes of stack_trace attribute
}

func (g *Generator) newDraft(e *entry, envelope bool) draft {
	d := draft{e: e, status: e.status, envelope: envelope}
	live := g.rng.Float64() < g.opts.LiveShare
	d.env = EnvTest
	if live {
		d.env = EnvLive
	}
	d.rid = g.appendUUID(append(g.kbuf[:0], "request-id-"+d.env+"-"...))
	g.kbuf = d.rid
	if envelope {
		envIdx := 1
		if live {
			envIdx = 0
		}
		p := &g.projects[envIdx][pick(g.projCDF, g.rng.Float64())]
		d.proj = p.id
		d.org = p.orgs[pick(p.orgsCDF, g.rng.Float64())]
		// Log-normal latency, median about 27 ms with a long tail.
		d.latencyMs = math.Round(math.Exp(3.3+0.9*g.rng.NormFloat64())*10) / 10
	}
	return d
}

func (g *Generator) clean(now time.Time, i int) Message {
	d := g.newDraft(&g.entries[i], g.rng.Float64() < g.opts.EnvelopeShare)
	return g.finish(now, &d, Message{Kind: KindAccepted, ErrorType: d.e.errorType, Variant: "clean"})
}

func (g *Generator) unknownMsg(now time.Time) Message {
	t := g.unknown[pick(g.unkCDF, g.rng.Float64())]
	e := entry{
		errorType: t, status: 400,
		msgJSON: []byte(`"An unexpected error occurred."`),
		urlJSON: []byte(`"https://stytch.com/docs/b2b/api/errors/400#` + t + `"`),
		method:  "POST", path: "/v1/b2b/organizations",
	}
	d := g.newDraft(&e, g.rng.Float64() < g.opts.EnvelopeShare)
	return g.finish(now, &d, Message{Kind: KindUnknown, ErrorType: t, Flag: FlagUnknownErrorType, Variant: "unknown"})
}

// malformed builds variant v from catalog entry i.
func (g *Generator) malformed(now time.Time, v, i int) Message {
	vr := &variants[v]
	m := Message{Kind: vr.kind, Reason: vr.reason, Flag: vr.flag, Variant: vr.name, ErrorType: g.entries[i].errorType}
	envelope := g.rng.Float64() < g.opts.EnvelopeShare
	switch vr.name {
	case "bad_timestamp", "invalid_field", "oversize":
		envelope = true
	}
	d := g.newDraft(&g.entries[i], envelope)
	alt := g.rng.IntN(5)
	switch vr.name {
	case "not_json":
		texts := [...]string{
			"upstream connect error or disconnect/reset before headers. reset reason: connection timeout",
			"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>",
			"error_type=" + d.e.errorType + " status_code=400 request_id=" + string(d.rid),
			"null",
			"{'status_code': 400, 'error_type': '" + d.e.errorType + "'}",
		}
		return g.raw(now, d.rid, []byte(texts[alt]), m)
	case "truncated_json":
		full := g.build(now, &d)
		// Any proper prefix of an object lacks its closing brace; cut at a
		// rune boundary so the payload stays valid UTF-8.
		n := 1 + g.rng.IntN(len(full)-1)
		for n > 1 && full[n]&0xC0 == 0x80 {
			n--
		}
		return g.raw(now, d.rid, full[:n], m)
	case "json_array":
		full := g.build(now, &d)
		val := append(append([]byte{'['}, full...), ']')
		return g.raw(now, d.rid, val, m)
	case "invalid_utf8":
		d.badUTF8 = true
	case "oversize":
		d.pad = MaxMessageBytes + 1000 + g.rng.IntN(4000)
	case "missing_error_type":
		d.rawType = [...]string{"-", "null", "-", "null", "-"}[alt]
	case "invalid_error_type":
		d.rawType = [...]string{`"BillingNotVerified"`, `"` + d.e.errorType + `-v2"`, `""`, `400`, `"` + d.e.errorType + ` "`}[alt]
	case "missing_status_code":
		d.rawStatus = [...]string{"-", "null", "-", "null", "-"}[alt]
	case "invalid_status_code":
		d.rawStatus = [...]string{`"400"`, `400.0`, `4e2`, `99`, `600`}[alt]
	case "status_mismatch":
		d.status = [...]int{500, 401, 429, 403, 404}[alt]
		if d.status == d.e.status {
			d.status = 409
		}
	case "message_mismatch":
		d.msgSuffix = [...]string{" (request rejected)", ".", " Please retry.", " [v2]", " See logs."}[alt]
	case "url_mismatch":
		d.urlJSON = []byte(`"https://stytch.com/docs/api/errors/` + strconv.Itoa(d.e.status) + "?v=" + strconv.Itoa(alt) + "#" + d.e.errorType + `"`)
	case "missing_request_id":
		d.rid, d.env = nil, EnvUnknown
	case "malformed_request_id":
		u := string(d.rid[len("request-id-live-"):])
		d.rid = []byte([...]string{
			"req_" + u[:8] + u[9:13] + u[14:18],
			"request-id-prod-" + u,
			"request-id-" + d.env + "-" + u[:30],
			"request-id-" + d.env + "-" + u[:35] + "g",
			u,
		}[alt])
		d.env = environment(d.rid)
	case "bad_timestamp":
		d.rawTS = [...]string{
			`"not-a-timestamp"`,
			`"2024-13-45T25:61:00Z"`,
			`"` + now.Add(-72*time.Hour).UTC().Format(time.RFC3339Nano) + `"`,
			strconv.FormatInt(now.Add(30*24*time.Hour).UnixMilli(), 10),
			`"yesterday"`,
		}[alt]
	case "invalid_field":
		d.rawLatency = [...]string{`"12ms"`, `-5`, `"fast"`, `true`, `"n/a"`}[alt]
	default:
		panic(fmt.Sprintf("loadgen: variant %q has no builder", vr.name))
	}
	return g.finish(now, &d, m)
}

// finish builds d into m (key and value in one allocation).
func (g *Generator) finish(now time.Time, d *draft, m Message) Message {
	m.Envelope = d.envelope
	m.Environment = d.env
	key := d.rid
	if d.envelope && d.org != nil {
		key = d.org
	}
	return g.raw(now, key, g.build(now, d), m)
}

// raw fills m with key and val copied into one fresh allocation.
func (g *Generator) raw(now time.Time, key, val []byte, m Message) Message {
	if key == nil {
		key = g.appendUUID(g.kbuf[:0])
		g.kbuf = key
	}
	b := make([]byte, len(key)+len(val))
	copy(b, key)
	copy(b[len(key):], val)
	m.Key, m.Value, m.Time = b[:len(key):len(key)], b[len(key):], now
	if m.Environment == "" {
		m.Environment = EnvUnknown
	}
	return m
}

// build writes d as JSON into g.buf and returns it (valid until the next build).
func (g *Generator) build(now time.Time, d *draft) []byte {
	b := append(g.buf[:0], '{')
	if d.envelope {
		b = append(b, `"timestamp":`...)
		switch {
		case d.rawTS != "":
			b = append(b, d.rawTS...)
		case g.rng.IntN(2) == 0:
			ts := now.Add(-time.Duration(d.latencyMs * float64(time.Millisecond))).UTC()
			b = append(b, '"')
			b = ts.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
			b = append(b, '"')
		default:
			b = strconv.AppendInt(b, now.UnixMilli()-int64(d.latencyMs), 10)
		}
		b = append(b, ',')
	}
	switch d.rawStatus {
	case "":
		b = append(b, `"status_code":`...)
		b = strconv.AppendInt(b, int64(d.status), 10)
		b = append(b, ',')
	case "-":
	default:
		b = append(b, `"status_code":`...)
		b = append(b, d.rawStatus...)
		b = append(b, ',')
	}
	if d.rid != nil {
		b = append(b, `"request_id":"`...)
		b = append(b, d.rid...)
		b = append(b, `",`...)
	}
	switch d.rawType {
	case "":
		b = append(b, `"error_type":"`...)
		b = append(b, d.e.errorType...)
		b = append(b, `",`...)
	case "-":
	default:
		b = append(b, `"error_type":`...)
		b = append(b, d.rawType...)
		b = append(b, ',')
	}
	b = append(b, `"error_message":`...)
	switch {
	case d.badUTF8:
		// A Latin-1 "é" or a stray 0xff inside the message.
		msg := d.e.msgJSON
		b = append(b, msg[:len(msg)/2]...)
		b = append(b, [...]string{"\xe9", "\xff\xfe", "\xc3("}[g.rng.IntN(3)]...)
		b = append(b, msg[len(msg)/2:]...)
	case d.msgSuffix != "":
		b = append(b, d.e.msgJSON[:len(d.e.msgJSON)-1]...)
		b = append(b, d.msgSuffix...)
		b = append(b, '"')
	default:
		b = append(b, d.e.msgJSON...)
	}
	b = append(b, `,"error_url":`...)
	if d.urlJSON != nil {
		b = append(b, d.urlJSON...)
	} else {
		b = append(b, d.e.urlJSON...)
	}
	if d.envelope {
		b = g.appendEnvelope(b, d)
	}
	if d.pad > 0 {
		b = append(b, `,"stack_trace":"`...)
		frame := "\\n  at com.example.api.Handler.handle(Handler.java:" // 52 bytes
		for n := 0; len(b) < d.pad; n++ {
			b = append(b, frame...)
			b = strconv.AppendInt(b, int64(100+n%900), 10)
			b = append(b, ')')
		}
		b = append(b, '"')
	}
	b = append(b, '}')
	g.buf = b
	return b
}

var (
	clients = [...]string{"stytch-node/12.4.1", "stytch-go/16.2.0", "stytch-python/11.3.0", "stytch-ruby/9.1.0", "stytch-java/6.0.0", "curl/8.5.0"}
	regions = [...]string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"}
	extras  = [...]string{`"sdk_retry":2`, `"feature_flag":"new_login_flow"`, `"user_agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)"`, `"ip_country":"DE"`}
)

func (g *Generator) appendEnvelope(b []byte, d *draft) []byte {
	b = append(b, `,"method":"`...)
	b = append(b, d.e.method...)
	b = append(b, `","path":"`...)
	b = append(b, d.e.path...)
	b = append(b, `","project_id":"`...)
	b = append(b, d.proj...)
	b = append(b, `","organization_id":"`...)
	b = append(b, d.org...)
	b = append(b, '"')
	if g.rng.IntN(10) < 6 {
		b = append(b, `,"member_id":"member-`...)
		b = append(b, d.env...)
		b = append(b, '-')
		b = g.appendUUID(b)
		b = append(b, '"')
	}
	b = append(b, `,"client":"`...)
	b = append(b, clients[pickSkewed(g.rng, len(clients))]...)
	b = append(b, `","latency_ms":`...)
	if d.rawLatency != "" {
		b = append(b, d.rawLatency...)
	} else {
		b = strconv.AppendFloat(b, d.latencyMs, 'f', -1, 64)
	}
	b = append(b, `,"region":"`...)
	b = append(b, regions[pickSkewed(g.rng, len(regions))]...)
	b = append(b, '"')
	if g.rng.IntN(10) == 0 {
		b = append(b, ',')
		b = append(b, extras[g.rng.IntN(len(extras))]...)
	}
	return b
}

// appendUUID appends a random version-4 UUID in 8-4-4-4-12 lowercase hex.
func (g *Generator) appendUUID(b []byte) []byte {
	const hex = "0123456789abcdef"
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	hi = hi&^(0xf<<12) | 0x4<<12       // version 4
	lo = lo&^(0x3<<62) | uint64(2)<<62 // RFC 4122 variant
	for i := 0; i < 32; i++ {
		switch i {
		case 8, 12, 16, 20:
			b = append(b, '-')
		}
		var nib uint64
		if i < 16 {
			nib = hi >> (60 - 4*i) & 0xf
		} else {
			nib = lo >> (60 - 4*(i-16)) & 0xf
		}
		b = append(b, hex[nib])
	}
	return b
}

func environment(rid []byte) string {
	switch {
	case len(rid) >= 16 && string(rid[:16]) == "request-id-live-":
		return EnvLive
	case len(rid) >= 16 && string(rid[:16]) == "request-id-test-":
		return EnvTest
	}
	return EnvUnknown
}

// endpoint returns a plausible method and path of the API call that fails
// with an error of category.
func endpoint(category string) (string, string) {
	switch category {
	case "password_hashes":
		return "POST", "/v1/b2b/passwords/migrate"
	case "sso":
		return "POST", "/v1/b2b/sso/authenticate"
	case "oauth":
		return "POST", "/v1/b2b/oauth/authenticate"
	case "members":
		return "PUT", "/v1/b2b/organizations/members"
	case "request_validation":
		return "POST", "/v1/b2b/discovery/organizations/create"
	case "organization_settings":
		return "PUT", "/v1/b2b/organizations"
	case "redirect_urls":
		return "POST", "/v1/b2b/magic_links/email/login_or_signup"
	case "m2m_clients":
		return "POST", "/v1/m2m/clients"
	case "provisioning":
		return "POST", "/v1/b2b/scim/connection"
	case "otp_totp":
		return "POST", "/v1/b2b/totp"
	case "webauthn":
		return "POST", "/v1/webauthn/register"
	case "api_access":
		return "GET", "/v1/b2b/organizations/search"
	case "email_templates":
		return "POST", "/v1/b2b/magic_links/email/invite"
	case "email_magic_links":
		return "POST", "/v1/b2b/magic_links/authenticate"
	case "phone_sms":
		return "POST", "/v1/b2b/otps/sms/send"
	case "rbac":
		return "GET", "/v1/b2b/rbac/policy"
	case "captcha", "passwords":
		return "POST", "/v1/b2b/passwords/authenticate"
	case "billing":
		return "POST", "/v1/b2b/organizations"
	case "sessions_tokens":
		return "POST", "/v1/b2b/sessions/authenticate"
	}
	return "POST", "/v1/b2b/" + category
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
