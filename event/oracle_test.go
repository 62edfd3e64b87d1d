package event

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"testing"
	"unicode/utf8"
)

// The oracle re-derives the contract from encoding/json, independently of the
// hand-rolled scanner: what the outcome should be and, for an accepted event,
// what every field should hold.

var (
	errorTypeRe = regexp.MustCompile(`^[a-z0-9_]{1,128}$`)
	intRe       = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
)

// oracleOutcome returns the reason encoding/json's view of payload implies
// ("" for accepted). It ignores too_large, which Check tests on length alone.
func oracleOutcome(payload []byte) (Reason, map[string]json.RawMessage) {
	if !utf8.Valid(payload) {
		return ReasonInvalidUTF8, nil
	}
	trimmed := bytes.TrimLeft(payload, " \t\r\n")
	if !json.Valid(payload) || len(trimmed) == 0 || trimmed[0] != '{' {
		return ReasonNotJSONObject, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		panic("json.Valid object that does not unmarshal: " + err.Error())
	}
	absent := func(k string) bool { v, ok := m[k]; return !ok || string(v) == "null" }
	if absent("error_type") {
		return ReasonMissingErrorType, m
	}
	var et string
	if json.Unmarshal(m["error_type"], &et) != nil || !errorTypeRe.MatchString(et) {
		return ReasonInvalidErrorType, m
	}
	if absent("status_code") {
		return ReasonMissingStatusCode, m
	}
	sc := string(m["status_code"])
	if !intRe.MatchString(sc) {
		return ReasonInvalidStatusCode, m
	}
	if n, err := strconv.Atoi(sc); err != nil || n < 100 || n > 599 {
		return ReasonInvalidStatusCode, m
	}
	return "", m
}

// compareWithOracle fails t when Check's outcome for payload (rej, ok, ev)
// disagrees with encoding/json's view of it.
func compareWithOracle(t *testing.T, payload []byte, rej Rejection, ok bool, ev *Event) {
	t.Helper()
	want, m := oracleOutcome(payload)
	if !ok {
		if rej.Reason != want {
			t.Fatalf("reason %s (%s), encoding/json implies %q for %q", rej.Reason, rej.Detail, want, payload)
		}
		return
	}
	if want != "" {
		t.Fatalf("accepted, encoding/json implies %s for %q", want, payload)
	}
	str := func(k string) (string, bool) {
		var s string
		if json.Unmarshal(m[k], &s) != nil {
			return "", false
		}
		return s, true
	}
	et, _ := str("error_type")
	sc, _ := strconv.Atoi(string(m["status_code"]))
	if ev.ErrorType != et || int(ev.StatusCode) != sc {
		t.Fatalf("error_type/status %q/%d, encoding/json %q/%d", ev.ErrorType, ev.StatusCode, et, sc)
	}

	wantAttrs := map[string]string{}
	for k, v := range m {
		if fieldIndex(k) < 0 {
			wantAttrs[k] = string(v)
		}
	}
	gotStr := map[string]string{
		"request_id": ev.RequestID, "error_message": ev.ErrorMessage, "error_url": ev.ErrorURL,
		"method": ev.Method, "path": ev.Path, "project_id": ev.ProjectID,
		"organization_id": ev.OrganizationID, "member_id": ev.MemberID, "client": ev.Client, "region": ev.Region,
	}
	for k, got := range gotStr {
		raw, present := m[k]
		s, isStr := str(k)
		switch {
		case !present || string(raw) == "null":
			s = ""
		case !isStr:
			s = ""
			wantAttrs[k] = string(raw)
		}
		if got != s {
			t.Fatalf("%s = %q, encoding/json %q (raw %s)", k, got, s, raw)
		}
	}
	if raw, present := m["latency_ms"]; present && string(raw) != "null" {
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || v < 0 || raw[0] == '"' || math.IsInf(v, 0) {
			wantAttrs["latency_ms"] = string(raw)
			if ev.HasLatency {
				t.Fatalf("latency %s accepted", raw)
			}
		} else if !ev.HasLatency || ev.LatencyMs != v {
			t.Fatalf("latency %v/%v, want %v", ev.LatencyMs, ev.HasLatency, v)
		}
	} else if ev.HasLatency {
		t.Fatal("HasLatency without latency_ms")
	}
	if ev.Flags.Has(FlagBadTimestamp) {
		wantAttrs["timestamp"] = string(m["timestamp"])
	}

	got := map[string]string{}
	for _, a := range ev.Attributes {
		if _, dup := got[a.Key]; dup {
			t.Fatalf("attribute %q twice: %q", a.Key, ev.Attributes)
		}
		got[a.Key] = a.Value
	}
	if len(got) != len(wantAttrs) {
		t.Fatalf("attributes %q, want %q", got, wantAttrs)
	}
	for k, v := range wantAttrs {
		if got[k] != v {
			t.Fatalf("attribute %q = %q, want %q (all: %q)", k, got[k], v, got)
		}
	}
	if (ev.Flags.Has(FlagInvalidField)) != (len(wantAttrs) > countUnknown(m)) && !ev.Flags.Has(FlagBadTimestamp) {
		t.Fatalf("invalid_field flag %v with attributes %q", ev.Flags.Has(FlagInvalidField), got)
	}
}

func countUnknown(m map[string]json.RawMessage) int {
	n := 0
	for k := range m {
		if fieldIndex(k) < 0 {
			n++
		}
	}
	return n
}
