package event

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// body builds a bare body with the given fields replaced (raw JSON values);
// a value of "" drops the field.
func body(repl ...string) string {
	fields := [][2]string{
		{"status_code", `400`},
		{"request_id", `"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141"`},
		{"error_type", `"billing_not_verified"`},
		{"error_message", `"Billing information must be verified before using live environment."`},
		{"error_url", `"https://stytch.com/docs/b2b/api/errors/400#billing_not_verified"`},
	}
	for i := 0; i+1 < len(repl); i += 2 {
		found := false
		for j := range fields {
			if fields[j][0] == repl[i] {
				fields[j][1] = repl[i+1]
				found = true
			}
		}
		if !found {
			fields = append(fields, [2]string{repl[i], repl[i+1]})
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	for _, f := range fields {
		if f[1] == "" {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + f[0] + `":` + f[1])
	}
	b.WriteByte('}')
	return b.String()
}

func TestCheckRejections(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		reason  Reason
		detail  string // substring
	}{
		{"too large", `{"x":"` + strings.Repeat("a", 64<<10) + `"}`, ReasonTooLarge, "limit 65536"},
		{"invalid utf8", "{\"error_type\":\"a\xff\"}", ReasonInvalidUTF8, "offset 16"},
		{"invalid utf8 beats bad json", "\xc3", ReasonInvalidUTF8, "offset 0"},
		{"invalid utf8 after a syntax error", "{]\xff", ReasonInvalidUTF8, "offset 2"},
		{"invalid utf8 in a key", "{\"k\xff\":1}", ReasonInvalidUTF8, "offset 3"},
		{"invalid utf8 nested", body("x", "[{\"a\":\"\xe2\x82\"}]"), ReasonInvalidUTF8, ""},
		{"invalid utf8 trailing", bareBody + "\xff", ReasonInvalidUTF8, ""},
		{"overlong utf8", body("x", "\"\xc0\xaf\""), ReasonInvalidUTF8, ""},
		{"utf8 surrogate", body("x", "\"\xed\xa0\x80\""), ReasonInvalidUTF8, ""},
		{"utf8 beyond U+10FFFF", body("x", "\"\xf4\x90\x80\x80\""), ReasonInvalidUTF8, ""},
		{"non-ASCII outside strings", "{\"a\":1,é}", ReasonNotJSONObject, "expected object key"},
		{"empty", ``, ReasonNotJSONObject, "empty"},
		{"whitespace only", " \n\t", ReasonNotJSONObject, "empty"},
		{"array", `[1,2]`, ReasonNotJSONObject, "not an object"},
		{"string", `"billing_not_verified"`, ReasonNotJSONObject, "not an object"},
		{"null", `null`, ReasonNotJSONObject, "not an object"},
		{"number", `400`, ReasonNotJSONObject, "not an object"},
		{"truncated", bareBody[:len(bareBody)-1], ReasonNotJSONObject, "end of input"},
		{"trailing garbage", bareBody + `x`, ReasonNotJSONObject, "trailing"},
		{"two objects", bareBody + bareBody, ReasonNotJSONObject, "trailing"},
		{"trailing comma", body("status_code", "400,"), ReasonNotJSONObject, "expected object key"},
		{"missing colon", `{"error_type" "x"}`, ReasonNotJSONObject, "':'"},
		{"single quotes", `{'error_type':'x'}`, ReasonNotJSONObject, "expected object key"},
		{"unquoted key", `{error_type:"x"}`, ReasonNotJSONObject, "expected object key"},
		{"invalid escape", body("error_message", `"a\x"`), ReasonNotJSONObject, "invalid escape"},
		{"short unicode escape", body("error_message", `"a\u12"`), ReasonNotJSONObject, `\u`},
		{"bad hex escape", body("error_message", `"\u12g4"`), ReasonNotJSONObject, `\u`},
		{"raw newline in string", body("error_message", "\"a\nb\""), ReasonNotJSONObject, "control character"},
		{"leading zero", body("status_code", `0400`), ReasonNotJSONObject, ""},
		{"plus sign", body("status_code", `+400`), ReasonNotJSONObject, "invalid character"},
		{"bare dot", body("latency_ms", `1.`), ReasonNotJSONObject, "invalid number"},
		{"bad exponent", body("latency_ms", `1e`), ReasonNotJSONObject, "invalid number"},
		{"NaN", body("latency_ms", `NaN`), ReasonNotJSONObject, "invalid character"},
		{"bad literal", body("x", `tru`), ReasonNotJSONObject, "invalid literal"},
		{"unclosed nested", body("x", `{"a":[1,2}`), ReasonNotJSONObject, "']'"},
		{"nested trailing comma", body("x", `[1,]`), ReasonNotJSONObject, "invalid character"},
		{"nested missing colon", body("x", `{"a" 1}`), ReasonNotJSONObject, "':'"},
		{"nested non-string key", body("x", `{1:2}`), ReasonNotJSONObject, "expected object key"},
		{"too deep", body("x", strings.Repeat("[", maxDepth)+strings.Repeat("]", maxDepth)), ReasonNotJSONObject, "too deep"},
		{"mismatched closer deep", body("m", strings.Repeat(`[{"a":`, 100)+"1"+strings.Repeat("}]", 99)+"]]"), ReasonNotJSONObject, "'}'"},
		{"too deep objects", body("x", strings.Repeat(`{"a":`, maxDepth)+"1"+strings.Repeat("}", maxDepth)), ReasonNotJSONObject, "too deep"},
		{"bom", "\ufeff" + bareBody, ReasonNotJSONObject, "not an object"},
		{"comment", `{/*c*/"error_type":"x"}`, ReasonNotJSONObject, "expected object key"},

		{"missing error_type", body("error_type", ""), ReasonMissingErrorType, "no error_type"},
		{"null error_type", body("error_type", "null"), ReasonMissingErrorType, ""},
		{"error_type number", body("error_type", "7"), ReasonInvalidErrorType, "is a number"},
		{"error_type object", body("error_type", `{"a":1}`), ReasonInvalidErrorType, "is an object"},
		{"error_type empty", body("error_type", `""`), ReasonInvalidErrorType, `""`},
		{"error_type upper", body("error_type", `"Billing"`), ReasonInvalidErrorType, `"Billing" does not match`},
		{"error_type space", body("error_type", `"billing not"`), ReasonInvalidErrorType, ""},
		{"error_type dash", body("error_type", `"billing-not"`), ReasonInvalidErrorType, ""},
		{"error_type too long", body("error_type", `"`+strings.Repeat("a", 129)+`"`), ReasonInvalidErrorType, "..."},
		{"error_type escaped newline", body("error_type", `"a\n"`), ReasonInvalidErrorType, ""},
		{"error_type unicode", body("error_type", `"caf\u00e9"`), ReasonInvalidErrorType, ""},
		{"last status_code wins", strings.TrimSuffix(bareBody, "}") + `,"status_code":"400"}`, ReasonInvalidStatusCode, "is a string"},
		{"last error_type wins", strings.TrimSuffix(bareBody, "}") + `,"error_type":null}`, ReasonMissingErrorType, ""},
		{"error_type checked before status", body("error_type", "1", "status_code", `"x"`), ReasonInvalidErrorType, ""},

		{"missing status_code", body("status_code", ""), ReasonMissingStatusCode, "no status_code"},
		{"null status_code", body("status_code", "null"), ReasonMissingStatusCode, ""},
		{"status_code string", body("status_code", `"400"`), ReasonInvalidStatusCode, "is a string"},
		{"status_code bool", body("status_code", `true`), ReasonInvalidStatusCode, "is a boolean"},
		{"status_code array", body("status_code", `[400]`), ReasonInvalidStatusCode, "is an array"},
		{"status_code fraction", body("status_code", `400.0`), ReasonInvalidStatusCode, "400.0 is not an integer"},
		{"status_code exponent", body("status_code", `4e2`), ReasonInvalidStatusCode, "not an integer"},
		{"status_code low", body("status_code", `42`), ReasonInvalidStatusCode, "status_code 42 outside 100..599"},
		{"status_code 99", body("status_code", `99`), ReasonInvalidStatusCode, "outside"},
		{"status_code 600", body("status_code", `600`), ReasonInvalidStatusCode, "outside"},
		{"status_code zero", body("status_code", `0`), ReasonInvalidStatusCode, "outside"},
		{"status_code negative", body("status_code", `-400`), ReasonInvalidStatusCode, "outside"},
		{"status_code minus zero", body("status_code", `-0`), ReasonInvalidStatusCode, "outside"},
		{"status_code huge", body("status_code", strings.Repeat("9", 400)), ReasonInvalidStatusCode, "..."},
		{"status_code 2^64+400", body("status_code", `18446744073709552016`), ReasonInvalidStatusCode, "outside"},
	}
	c := NewChecker(testCatalog(t), Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			rej, ok := c.Check([]byte(tt.payload), kafkaTime, &ev)
			if ok {
				t.Fatalf("accepted %q, want %s", tt.payload, tt.reason)
			}
			if rej.Reason != tt.reason {
				t.Fatalf("reason %s (%s), want %s", rej.Reason, rej.Detail, tt.reason)
			}
			if !strings.Contains(rej.Detail, tt.detail) {
				t.Errorf("detail %q does not contain %q", rej.Detail, tt.detail)
			}
			if rej.Detail == "" || len(rej.Detail) > 120 {
				t.Errorf("detail %q: want a short, non-empty text", rej.Detail)
			}
		})
	}
}

func TestCheckMaxMessageBytes(t *testing.T) {
	c := NewChecker(testCatalog(t), Options{MaxMessageBytes: len(bareBody)})
	var ev Event
	if rej, ok := c.Check([]byte(bareBody), kafkaTime, &ev); !ok {
		t.Fatalf("exactly the limit: rejected %+v", rej)
	}
	// Too large is decided before anything else, even for garbage.
	rej, ok := c.Check([]byte(bareBody+" \xff"), kafkaTime, &ev)
	if ok || rej.Reason != ReasonTooLarge {
		t.Fatalf("one byte over: got %+v, %v", rej, ok)
	}
}

func TestCheckBareBody(t *testing.T) {
	cat := testCatalog(t)
	c := NewChecker(cat, Options{})
	var ev Event
	local := kafkaTime.In(time.FixedZone("CET", 3600))
	if rej, ok := c.Check([]byte(bareBody), local, &ev); !ok {
		t.Fatalf("rejected: %+v", rej)
	}
	want := Event{
		Time:           kafkaTime,
		StatusCode:     400,
		RequestID:      "request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141",
		ErrorType:      "billing_not_verified",
		ErrorMessage:   "Billing information must be verified before using live environment.",
		ErrorURL:       "https://stytch.com/docs/b2b/api/errors/400#billing_not_verified",
		Environment:    EnvLive,
		Category:       "billing",
		Actor:          "account_admin",
		Known:          true,
		CatalogVersion: cat.Version(),
	}
	want.Entry, want.EntryNumber, _ = cat.Numbered("billing_not_verified")
	// The catalog values are the entry's own strings: a batch encodes them by number.
	for _, s := range []struct{ got, entry string }{{ev.ErrorType, want.Entry.ErrorType},
		{ev.ErrorMessage, want.Entry.ErrorMessage}, {ev.ErrorURL, want.Entry.ErrorURL}} {
		if unsafe.StringData(s.got) != unsafe.StringData(s.entry) {
			t.Errorf("%q is a copy, not the catalog entry's string", s.got)
		}
	}
	if ev.Time.Location() != time.UTC {
		t.Errorf("time location %v, want UTC", ev.Time.Location())
	}
	if len(ev.Attributes) != 0 {
		t.Errorf("attributes %q, want none", ev.Attributes)
	}
	if !ev.Time.Equal(want.Time) {
		t.Errorf("time %v, want %v", ev.Time, want.Time)
	}
	ev.Time, want.Time = time.Time{}, time.Time{}
	ev.Attributes, ev.attrIndex = nil, nil
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}
	if want.CatalogVersion == "" {
		t.Error("catalog version is empty")
	}
}

func TestCheckEnvelope(t *testing.T) {
	c := NewChecker(testCatalog(t), Options{})
	var ev Event
	if rej, ok := c.Check([]byte(envelopeBody), kafkaTime, &ev); !ok {
		t.Fatalf("rejected: %+v", rej)
	}
	if ev.Flags != 0 {
		t.Errorf("flags %v, want none", ev.Flags)
	}
	if want := time.Date(2025, 3, 14, 15, 9, 25, 123456000, time.UTC); !ev.Time.Equal(want) {
		t.Errorf("time %v, want %v", ev.Time, want)
	}
	got := []string{ev.Method, ev.Path, ev.ProjectID, ev.OrganizationID, ev.MemberID, ev.Client, ev.Region}
	want := []string{"POST", "/v1/b2b/organizations", "project-live-1234", "organization-live-5678", "member-live-9abc", "stytch-go/16.2.0", "us-east-1"}
	if !slices.Equal(got, want) {
		t.Errorf("envelope fields %q, want %q", got, want)
	}
	if !ev.HasLatency || ev.LatencyMs != 12.5 {
		t.Errorf("latency %v/%v, want 12.5", ev.LatencyMs, ev.HasLatency)
	}
	wantAttrs := []Attribute{
		{"trace_id", `"4bf92f3577b34da6a3ce929d0e0e4736"`},
		{"retry", `2`},
		{"tags", `{"team":"auth","canary":false}`},
	}
	if !slices.Equal(ev.Attributes, wantAttrs) {
		t.Errorf("attributes %q, want %q", ev.Attributes, wantAttrs)
	}
}

func TestCheckFlagsAndFields(t *testing.T) {
	at := func(d time.Duration) string { return `"` + kafkaTime.Add(d).Format(time.RFC3339Nano) + `"` }
	tests := []struct {
		name    string
		payload string
		flags   Flags
		attrs   []Attribute
		check   func(t *testing.T, ev *Event)
	}{
		{name: "bare body", payload: bareBody},
		{name: "unknown type", payload: body("error_type", `"brand_new_error"`), flags: FlagUnknownErrorType,
			check: func(t *testing.T, ev *Event) {
				if ev.Known || ev.Category != "unknown" || ev.Actor != "unknown" {
					t.Errorf("known=%v category=%q actor=%q", ev.Known, ev.Category, ev.Actor)
				}
			}},
		{name: "unknown type skips example comparisons", payload: body("error_type", `"x"`, "status_code", "500", "error_message", `"m"`), flags: FlagUnknownErrorType},
		{name: "status mismatch", payload: body("status_code", "403"), flags: FlagStatusMismatch,
			check: func(t *testing.T, ev *Event) {
				if ev.StatusCode != 403 {
					t.Errorf("status %d", ev.StatusCode)
				}
			}},
		{name: "status 100 and 599 accepted", payload: body("status_code", "599"), flags: FlagStatusMismatch},
		{name: "message mismatch", payload: body("error_message", `"other"`), flags: FlagMessageMismatch},
		{name: "message absent is no mismatch", payload: body("error_message", "", "error_url", "")},
		{name: "message null is absent", payload: body("error_message", "null")},
		{name: "url mismatch", payload: body("error_url", `"https://example.com"`), flags: FlagURLMismatch},
		{name: "all example mismatches", payload: body("status_code", "401", "error_message", `""`, "error_url", `""`), flags: FlagStatusMismatch | FlagMessageMismatch | FlagURLMismatch},
		{name: "missing request id", payload: body("request_id", ""), flags: FlagMissingRequestID,
			check: wantEnv(EnvUnknown)},
		{name: "null request id", payload: body("request_id", "null"), flags: FlagMissingRequestID},
		{name: "test request id", payload: body("request_id", `"request-id-test-B05C992F-EBDC-489D-A754-C7E70BA13141"`), check: wantEnv(EnvTest)},
		{name: "live request id", payload: bareBody, check: wantEnv(EnvLive)},
		{name: "malformed uuid keeps env", payload: body("request_id", `"request-id-test-123"`), flags: FlagMalformedRequestID, check: wantEnv(EnvTest)},
		{name: "uuid without dashes", payload: body("request_id", `"request-id-live-b05c992febdc489da754c7e70ba131410000"`), flags: FlagMalformedRequestID, check: wantEnv(EnvLive)},
		{name: "uuid non-hex", payload: body("request_id", `"request-id-live-g05c992f-ebdc-489d-a754-c7e70ba13141"`), flags: FlagMalformedRequestID},
		{name: "other environment", payload: body("request_id", `"request-id-prod-b05c992f-ebdc-489d-a754-c7e70ba13141"`), flags: FlagMalformedRequestID, check: wantEnv(EnvUnknown)},
		{name: "empty request id", payload: body("request_id", `""`), flags: FlagMalformedRequestID, check: wantEnv(EnvUnknown)},
		{name: "request id number", payload: body("request_id", `12345`), flags: FlagMalformedRequestID | FlagInvalidField,
			attrs: []Attribute{{"request_id", "12345"}}},
		{name: "escaped request id", payload: body("request_id", `"request-id-live-b05c992f\u002debdc-489d-a754-c7e70ba13141"`), check: wantEnv(EnvLive)},

		{name: "rfc3339 Z", payload: body("timestamp", at(-time.Hour)), check: wantTime(kafkaTime.Add(-time.Hour))},
		{name: "rfc3339 nanos", payload: body("timestamp", `"2025-03-14T15:09:26.000000001Z"`), check: wantTime(kafkaTime.Add(1))},
		{name: "rfc3339 millis", payload: body("timestamp", `"2025-03-14T15:09:26.5Z"`), check: wantTime(kafkaTime.Add(500 * time.Millisecond))},
		{name: "rfc3339 offset", payload: body("timestamp", `"2025-03-14T16:39:26+01:30"`), check: wantTime(kafkaTime)},
		{name: "rfc3339 negative offset", payload: body("timestamp", `"2025-03-14T10:09:26-05:00"`), check: wantTime(kafkaTime)},
		{name: "rfc3339 lowercase", payload: body("timestamp", `"2025-03-14t15:09:26z"`), check: wantTime(kafkaTime)},
		{name: "epoch ms", payload: body("timestamp", `1741964966000`), check: wantTime(kafkaTime)},
		{name: "epoch ms fraction", payload: body("timestamp", `1741964966000.5`), check: wantTime(kafkaTime.Add(500 * time.Microsecond))},
		{name: "epoch ms exponent", payload: body("timestamp", `1.741964966e12`), check: wantTime(kafkaTime)},
		{name: "null timestamp", payload: body("timestamp", `null`), check: wantTime(kafkaTime)},
		{name: "skew exactly 24h", payload: body("timestamp", at(24*time.Hour)), check: wantTime(kafkaTime.Add(24 * time.Hour))},
		{name: "skew future", payload: body("timestamp", at(24*time.Hour+time.Millisecond)), flags: FlagBadTimestamp,
			attrs: []Attribute{{"timestamp", at(24*time.Hour + time.Millisecond)}}, check: wantTime(kafkaTime)},
		{name: "skew past", payload: body("timestamp", at(-25*time.Hour)), flags: FlagBadTimestamp,
			attrs: []Attribute{{"timestamp", at(-25 * time.Hour)}}, check: wantTime(kafkaTime)},
		{name: "epoch seconds are skewed", payload: body("timestamp", `1741964966`), flags: FlagBadTimestamp,
			attrs: []Attribute{{"timestamp", `1741964966`}}},
		{name: "epoch ms as string", payload: body("timestamp", `"1741964966000"`), flags: FlagBadTimestamp,
			attrs: []Attribute{{"timestamp", `"1741964966000"`}}},
		{name: "garbage timestamp", payload: body("timestamp", `"yesterday"`), flags: FlagBadTimestamp,
			attrs: []Attribute{{"timestamp", `"yesterday"`}}, check: wantTime(kafkaTime)},
		{name: "no zone", payload: body("timestamp", `"2025-03-14T15:09:26"`), flags: FlagBadTimestamp, attrs: []Attribute{{"timestamp", `"2025-03-14T15:09:26"`}}},
		{name: "space separator", payload: body("timestamp", `"2025-03-14 15:09:26Z"`), flags: FlagBadTimestamp, attrs: []Attribute{{"timestamp", `"2025-03-14 15:09:26Z"`}}},
		{name: "feb 30", payload: body("timestamp", `"2025-02-30T15:09:26Z"`), flags: FlagBadTimestamp, attrs: []Attribute{{"timestamp", `"2025-02-30T15:09:26Z"`}}},
		{name: "hour 24", payload: body("timestamp", `"2025-03-14T24:00:00Z"`), flags: FlagBadTimestamp, attrs: []Attribute{{"timestamp", `"2025-03-14T24:00:00Z"`}}},
		{name: "empty fraction", payload: body("timestamp", `"2025-03-14T15:09:26.Z"`), flags: FlagBadTimestamp, attrs: []Attribute{{"timestamp", `"2025-03-14T15:09:26.Z"`}}},
		{name: "huge epoch", payload: body("timestamp", `1e300`), flags: FlagBadTimestamp, attrs: []Attribute{{"timestamp", `1e300`}}},
		{name: "huge integer epoch", payload: body("timestamp", strings.Repeat("9", 30)), flags: FlagBadTimestamp, attrs: []Attribute{{"timestamp", strings.Repeat("9", 30)}}},
		{name: "timestamp wrong type", payload: body("timestamp", `{"s":1}`), flags: FlagBadTimestamp | FlagInvalidField,
			attrs: []Attribute{{"timestamp", `{"s":1}`}}, check: wantTime(kafkaTime)},

		{name: "latency zero", payload: body("latency_ms", `0`), check: func(t *testing.T, ev *Event) {
			if !ev.HasLatency || ev.LatencyMs != 0 {
				t.Errorf("latency %v %v", ev.LatencyMs, ev.HasLatency)
			}
		}},
		{name: "latency negative", payload: body("latency_ms", `-1`), flags: FlagInvalidField, attrs: []Attribute{{"latency_ms", "-1"}},
			check: func(t *testing.T, ev *Event) {
				if ev.HasLatency {
					t.Error("HasLatency for an invalid value")
				}
			}},
		{name: "latency string", payload: body("latency_ms", `"12"`), flags: FlagInvalidField, attrs: []Attribute{{"latency_ms", `"12"`}}},
		{name: "latency overflow", payload: body("latency_ms", `1e999`), flags: FlagInvalidField, attrs: []Attribute{{"latency_ms", `1e999`}}},
		{name: "method number", payload: body("method", `1`), flags: FlagInvalidField, attrs: []Attribute{{"method", "1"}}},
		{name: "path object", payload: body("path", `{"a": [1, 2]}`), flags: FlagInvalidField, attrs: []Attribute{{"path", `{"a": [1, 2]}`}}},
		{name: "several invalid fields", payload: body("region", `false`, "client", `["go"]`), flags: FlagInvalidField,
			attrs: []Attribute{{"client", `["go"]`}, {"region", `false`}}},
		{name: "null optional fields are absent", payload: body("method", `null`, "path", "null", "latency_ms", "null")},

		{name: "unknown keys kept raw", payload: body("z", `"v"`, "n", `-1.5e3`, "t", `true`, "nil", `null`, "obj", `{ "a" : [ 1 , {"b":null} ] }`, "arr", `[]`),
			attrs: []Attribute{{"z", `"v"`}, {"n", `-1.5e3`}, {"t", `true`}, {"nil", `null`}, {"obj", `{ "a" : [ 1 , {"b":null} ] }`}, {"arr", `[]`}}},
		{name: "escaped string attribute stays raw", payload: body("note", `"a\"b\u00e9"`), attrs: []Attribute{{"note", `"a\"b\u00e9"`}}},
		{name: "escaped unknown key is unescaped", payload: body(`k\u00e9y`, `1`), attrs: []Attribute{{"kéy", "1"}}},
		{name: "escaped known key", payload: `{"error\u005ftype":"billing_not_verified","status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141"}`,
			check: func(t *testing.T, ev *Event) {
				if ev.ErrorType != "billing_not_verified" {
					t.Errorf("error_type %q", ev.ErrorType)
				}
			}},
		{name: "keys are case sensitive", payload: body("Error_Type", `"x"`), attrs: []Attribute{{"Error_Type", `"x"`}}},
		{name: "empty key", payload: body("", `1`), attrs: []Attribute{{"", "1"}}},

		{name: "duplicate known key last wins", payload: `{"error_type":"nope","status_code":500,"error_type":"billing_not_verified","status_code":400}`, flags: FlagMissingRequestID,
			check: func(t *testing.T, ev *Event) {
				if ev.ErrorType != "billing_not_verified" || ev.StatusCode != 400 {
					t.Errorf("got %q %d", ev.ErrorType, ev.StatusCode)
				}
			}},
		{name: "duplicate valid after invalid clears flag", payload: strings.TrimSuffix(body("method", `1`), "}") + `,"method":"GET"}`,
			check: func(t *testing.T, ev *Event) {
				if ev.Method != "GET" {
					t.Errorf("method %q", ev.Method)
				}
			}},
		{name: "duplicate unknown key last wins in place", payload: strings.TrimSuffix(body("a", "1", "b", "2"), "}") + `,"a":3}`,
			attrs: []Attribute{{"a", "3"}, {"b", "2"}}},
		{name: "duplicate valid then invalid keeps the invalid one", payload: strings.TrimSuffix(body("method", `"GET"`), "}") + `,"method":1}`,
			flags: FlagInvalidField, attrs: []Attribute{{"method", "1"}}},

		{name: "whitespace everywhere", payload: " \t\r\n{ \"status_code\" : 400 ,\n\t\"error_type\"\r: \"billing_not_verified\" , \"request_id\":\"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141\" } \n"},
		{name: "escapes decoded", payload: body("error_message", `"line\nnext \"q\" \\ \/ \b\f\r\t \u00e9 \ud83d\ude00 \u2028"`), flags: FlagMessageMismatch,
			check: func(t *testing.T, ev *Event) {
				if want := "line\nnext \"q\" \\ / \b\f\r\t é 😀 \u2028"; ev.ErrorMessage != want {
					t.Errorf("message %q, want %q", ev.ErrorMessage, want)
				}
			}},
		{name: "lone surrogates become U+FFFD", payload: body("method", `"\ud83d-\ude00-\ud83d\u0041"`),
			check: func(t *testing.T, ev *Event) {
				if want := "\ufffd-\ufffd-\ufffdA"; ev.Method != want {
					t.Errorf("method %q, want %q", ev.Method, want)
				}
			}},
		{name: "raw utf8", payload: body("client", `"スティッチ/1.0 😀"`), check: func(t *testing.T, ev *Event) {
			if ev.Client != "スティッチ/1.0 😀" {
				t.Errorf("client %q", ev.Client)
			}
		}},
		{name: "mixed nesting beyond 64 levels", payload: body("m", strings.Repeat(`[{"a":`, 100)+"1"+strings.Repeat("}]", 100)),
			attrs: []Attribute{{"m", strings.Repeat(`[{"a":`, 100) + "1" + strings.Repeat("}]", 100)}}},
		{name: "offset minutes 60", payload: body("timestamp", `"2025-03-14T15:09:26+01:60"`), flags: FlagBadTimestamp, attrs: []Attribute{{"timestamp", `"2025-03-14T15:09:26+01:60"`}}},
		{name: "leap second", payload: body("timestamp", `"2025-03-14T15:09:60Z"`), flags: FlagBadTimestamp, attrs: []Attribute{{"timestamp", `"2025-03-14T15:09:60Z"`}}},
		{name: "deepest nesting in attribute", payload: body("deep", strings.Repeat("[", maxDepth-1)+strings.Repeat("]", maxDepth-1)),
			attrs: []Attribute{{"deep", strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1)}}},
	}
	c := NewChecker(testCatalog(t), Options{})
	var ev Event // reused on purpose: nothing may leak from one case to the next
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rej, ok := c.Check([]byte(tt.payload), kafkaTime, &ev)
			if !ok {
				t.Fatalf("rejected %+v: %s", rej, tt.payload)
			}
			if ev.Flags != tt.flags {
				t.Errorf("flags %v, want %v", ev.Flags, tt.flags)
			}
			if !slices.Equal(ev.Attributes, tt.attrs) && len(ev.Attributes)+len(tt.attrs) > 0 {
				t.Errorf("attributes %q, want %q", ev.Attributes, tt.attrs)
			}
			if tt.check != nil {
				tt.check(t, &ev)
			}
		})
	}
}

func wantEnv(env string) func(*testing.T, *Event) {
	return func(t *testing.T, ev *Event) {
		t.Helper()
		if ev.Environment != env {
			t.Errorf("environment %q, want %q", ev.Environment, env)
		}
	}
}

func wantTime(want time.Time) func(*testing.T, *Event) {
	return func(t *testing.T, ev *Event) {
		t.Helper()
		if !ev.Time.Equal(want) {
			t.Errorf("time %v, want %v", ev.Time, want)
		}
		if ev.Time.Location() != time.UTC {
			t.Errorf("time location %v, want UTC", ev.Time.Location())
		}
	}
}
