package loadgen

// How one message is written: the draft of a well-formed body or envelope, the malformed
// variants that change one part of it, and the bytes.

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

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
