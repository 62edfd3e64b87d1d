package loadgen_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/loadgen"
)

// This file is an independent reading of the event contract with
// encoding/json, so that the generator's claims about each message are
// checked by something other than the generator.

var (
	errorTypeRe = regexp.MustCompile(`^[a-z0-9_]{1,128}$`)
	requestIDRe = regexp.MustCompile(`^request-id-(test|live)-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	statusRe    = regexp.MustCompile(`^[0-9]{3}$`)
)

// verdict is what the contract makes of one payload.
type verdict struct {
	reason    string   // "" when accepted
	flags     []string // sorted
	errorType string
	env       string
}

func loadCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Load("../schema/catalog.json", "")
	if err != nil {
		t.Fatalf("load catalog: %v", err)
	}
	return cat
}

func classify(cat *catalog.Catalog, payload []byte, kafkaTime time.Time) verdict {
	if len(payload) > loadgen.MaxMessageBytes {
		return verdict{reason: loadgen.ReasonTooLarge}
	}
	if !utf8.Valid(payload) {
		return verdict{reason: loadgen.ReasonInvalidUTF8}
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return verdict{reason: loadgen.ReasonNotJSONObject}
	}
	if _, err := dec.Token(); err == nil { // trailing data
		return verdict{reason: loadgen.ReasonNotJSONObject}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return verdict{reason: loadgen.ReasonNotJSONObject}
	}
	et, present := obj["error_type"]
	if !present || et == nil {
		return verdict{reason: loadgen.ReasonMissingErrorType}
	}
	ets, ok := et.(string)
	if !ok || !errorTypeRe.MatchString(ets) {
		return verdict{reason: loadgen.ReasonInvalidErrorType}
	}
	sc, present := obj["status_code"]
	if !present || sc == nil {
		return verdict{reason: loadgen.ReasonMissingStatusCode}
	}
	num, ok := sc.(json.Number)
	status, _ := strconv.Atoi(string(num))
	if !ok || !statusRe.MatchString(string(num)) || status < 100 || status > 599 {
		return verdict{reason: loadgen.ReasonInvalidStatusCode}
	}

	out := verdict{errorType: ets, env: loadgen.EnvUnknown}
	flag := func(f string) { out.flags = append(out.flags, f) }
	switch rid := obj["request_id"].(type) {
	case nil:
		flag(loadgen.FlagMissingRequestID)
	case string:
		if !requestIDRe.MatchString(rid) {
			flag(loadgen.FlagMalformedRequestID)
		}
		if len(rid) >= 16 && rid[:16] == "request-id-live-" {
			out.env = loadgen.EnvLive
		} else if len(rid) >= 16 && rid[:16] == "request-id-test-" {
			out.env = loadgen.EnvTest
		}
	default:
		flag(loadgen.FlagMalformedRequestID)
	}
	invalid := false
	for _, k := range []string{"error_message", "error_url", "method", "path", "project_id", "organization_id", "member_id", "client", "region"} {
		if x, ok := obj[k]; ok && x != nil {
			if _, ok := x.(string); !ok {
				invalid = true
			}
		}
	}
	if x, ok := obj["latency_ms"]; ok && x != nil {
		n, ok := x.(json.Number)
		f, err := n.Float64()
		if !ok || err != nil || f < 0 {
			invalid = true
		}
	}
	if x, ok := obj["timestamp"]; ok && x != nil {
		var ts time.Time
		good := false
		switch x := x.(type) {
		case string:
			t, err := time.Parse(time.RFC3339Nano, x)
			ts, good = t, err == nil
		case json.Number:
			ms, err := strconv.ParseInt(string(x), 10, 64)
			ts, good = time.UnixMilli(ms), err == nil
		default:
			invalid = true
		}
		if d := ts.Sub(kafkaTime); !good || d > 24*time.Hour || d < -24*time.Hour {
			flag(loadgen.FlagBadTimestamp)
		}
	}
	if invalid {
		flag(loadgen.FlagInvalidField)
	}
	if e, ok := cat.Lookup(ets); ok {
		if e.StatusCode != status {
			flag(loadgen.FlagStatusMismatch)
		}
		if m, ok := obj["error_message"].(string); ok && m != e.ErrorMessage {
			flag(loadgen.FlagMessageMismatch)
		}
		if u, ok := obj["error_url"].(string); ok && u != e.ErrorURL {
			flag(loadgen.FlagURLMismatch)
		}
	} else {
		flag(loadgen.FlagUnknownErrorType)
	}
	sort.Strings(out.flags)
	return out
}

// checkClaim fails t when m is not what it claims to be.
func checkClaim(t testing.TB, cat *catalog.Catalog, m *loadgen.Message) {
	t.Helper()
	v := classify(cat, m.Value, m.Time)
	var wantFlags []string
	if m.Flag != "" {
		wantFlags = []string{m.Flag}
	}
	switch {
	case m.Kind == loadgen.KindRejected:
		if v.reason != m.Reason {
			t.Fatalf("%s message claims reason %q, contract says %q: %.300q", m.Variant, m.Reason, v.reason, m.Value)
		}
	case v.reason != "":
		t.Fatalf("%s %s message rejected as %q: %.300q", m.Kind, m.Variant, v.reason, m.Value)
	case v.errorType != m.ErrorType || v.env != m.Environment || len(v.flags) != len(wantFlags) ||
		(len(wantFlags) == 1 && v.flags[0] != wantFlags[0]):
		t.Fatalf("%s %s message claims type %q env %q flags %v; contract says %q %q %v: %.400q",
			m.Kind, m.Variant, m.ErrorType, m.Environment, wantFlags, v.errorType, v.env, v.flags, m.Value)
	}
}
