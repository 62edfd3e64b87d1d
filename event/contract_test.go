package event

import (
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/faultline/faultline/catalog"
)

// TestSchemaMatchesCode keeps schema/event.schema.json and the decoder's
// field list, required fields and error_type pattern in step.
func TestSchemaMatchesCode(t *testing.T) {
	raw, err := os.ReadFile("../schema/event.schema.json")
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	var s struct {
		Schema     string   `json:"$schema"`
		Type       string   `json:"type"`
		Required   []string `json:"required"`
		Properties map[string]struct {
			Type    string  `json:"type"`
			Pattern string  `json:"pattern"`
			Minimum float64 `json:"minimum"`
			Maximum float64 `json:"maximum"`
		} `json:"properties"`
		AdditionalProperties json.RawMessage `json:"additionalProperties"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("schema/event.schema.json: %v", err)
	}
	if s.Schema != "https://json-schema.org/draft/2020-12/schema" || s.Type != "object" {
		t.Errorf("$schema %q type %q", s.Schema, s.Type)
	}
	var props []string
	for k := range s.Properties {
		props = append(props, k)
	}
	sort.Strings(props)
	fields := slices.Clone(fieldNames[:])
	sort.Strings(fields)
	if !slices.Equal(props, fields) {
		t.Errorf("schema properties %q, decoder fields %q", props, fields)
	}
	if req := slices.Sorted(slices.Values(s.Required)); !slices.Equal(req, []string{"error_type", "status_code"}) {
		t.Errorf("required %q", req)
	}
	if p := s.Properties["error_type"].Pattern; p != errorTypeRe.String() {
		t.Errorf("error_type pattern %q, want %q", p, errorTypeRe.String())
	}
	if sc := s.Properties["status_code"]; sc.Type != "integer" || sc.Minimum != 100 || sc.Maximum != 599 {
		t.Errorf("status_code %+v", sc)
	}
	if string(s.AdditionalProperties) == "false" {
		t.Error("additionalProperties must allow attributes")
	}
	doc, err := os.ReadFile("../docs/event-contract.md")
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	for _, r := range AllReasons() {
		if !strings.Contains(string(doc), "`"+string(r)+"`") {
			t.Errorf("docs/event-contract.md does not document reason %s", r)
		}
	}
	for _, f := range AllFlags() {
		if !strings.Contains(string(doc), "`"+f.String()+"`") {
			t.Errorf("docs/event-contract.md does not document flag %s", f)
		}
	}
}

// TestCommittedCatalogExamples checks every example body of the committed
// catalog: it must be accepted as known, with no flag at all.
func TestCommittedCatalogExamples(t *testing.T) {
	cat, err := catalog.Load("../schema/catalog.json", "")
	if err != nil {
		t.Fatalf("catalog.Load: %v", err)
	}
	c := NewChecker(cat, Options{})
	var ev Event
	for _, e := range cat.Entries() {
		p, err := json.Marshal(map[string]any{
			"status_code": e.StatusCode, "error_type": e.ErrorType,
			"error_message": e.ErrorMessage, "error_url": e.ErrorURL,
			"request_id": "request-id-test-b05c992f-ebdc-489d-a754-c7e70ba13141",
		})
		if err != nil {
			t.Fatal(err)
		}
		rej, ok := c.Check(p, kafkaTime, &ev)
		if !ok {
			t.Errorf("%s: rejected %+v", e.ErrorType, rej)
			continue
		}
		if ev.Flags != 0 || !ev.Known || ev.Category != e.Category || ev.Actor != e.Actor ||
			ev.CatalogVersion != cat.Version() || ev.Environment != EnvTest {
			t.Errorf("%s: flags %v known %v category %q actor %q version %q env %q", e.ErrorType,
				ev.Flags, ev.Known, ev.Category, ev.Actor, ev.CatalogVersion, ev.Environment)
		}
	}
	if cat.Len() == 0 {
		t.Fatal("empty catalog")
	}
}

func TestNames(t *testing.T) {
	want := []string{"unknown_error_type", "status_mismatch", "message_mismatch", "url_mismatch",
		"missing_request_id", "malformed_request_id", "bad_timestamp", "invalid_field"}
	var got []string
	for _, f := range AllFlags() {
		got = append(got, f.String())
		if n := f.Names(); len(n) != 1 || n[0] != f.String() {
			t.Errorf("%v.Names() = %q", f, n)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("flag names %q, want %q", got, want)
	}
	if s := (FlagStatusMismatch | FlagInvalidField).String(); s != "status_mismatch|invalid_field" {
		t.Errorf("String of two flags = %q", s)
	}
	if s := Flags(0).String(); s != "" {
		t.Errorf("String of no flag = %q", s)
	}
	if s := (FlagBadTimestamp | 1<<12).String(); s != "bad_timestamp|flag(0x1000)" {
		t.Errorf("String with an unnamed bit = %q", s)
	}
	if n := Flags(0).Names(); n != nil {
		t.Errorf("Names of no flag = %q", n)
	}
	if n := (FlagUnknownErrorType | FlagURLMismatch).AppendNames(make([]string, 0, 8)); !slices.Equal(n, []string{"unknown_error_type", "url_mismatch"}) {
		t.Errorf("AppendNames = %q", n)
	}
	reasons := []Reason{"too_large", "invalid_utf8", "not_json_object", "missing_error_type",
		"invalid_error_type", "missing_status_code", "invalid_status_code"}
	if got := AllReasons(); !slices.Equal(got, reasons) {
		t.Errorf("AllReasons() = %q", got)
	}
	for _, r := range reasons {
		if !r.Valid() {
			t.Errorf("%s not valid", r)
		}
	}
	if Reason("").Valid() || Reason("other").Valid() {
		t.Error("unknown reasons are valid")
	}
}

func TestNilCatalogAndOptions(t *testing.T) {
	c := NewChecker(nil, Options{MaxMessageBytes: -1, MaxClockSkew: -1})
	if c.maxBytes != DefaultMaxMessageBytes || c.maxSkew != DefaultMaxClockSkew {
		t.Errorf("defaults not applied: %d %v", c.maxBytes, c.maxSkew)
	}
	var ev Event
	if _, ok := c.Check([]byte(bareBody), kafkaTime, &ev); !ok || ev.Known || ev.Flags != FlagUnknownErrorType || ev.Category != Unknown {
		t.Errorf("nil catalog: %+v", ev)
	}
	// A zero Kafka time disables the skew check.
	c = NewChecker(testCatalog(t), Options{MaxClockSkew: 1})
	if _, ok := c.Check([]byte(body("timestamp", `1`)), kafkaTime.Add(0), &ev); !ok || !ev.Flags.Has(FlagBadTimestamp) {
		t.Errorf("1ns skew: flags %v", ev.Flags)
	}
	var zero Event
	if _, ok := c.Check([]byte(body("timestamp", `1`)), zero.Time, &ev); !ok || ev.Flags != 0 || ev.Time.UnixMilli() != 1 {
		t.Errorf("zero kafka time: flags %v time %v", ev.Flags, ev.Time)
	}
}

// TestConcurrentCheck is for -race: one Checker, one Event per goroutine.
func TestConcurrentCheck(t *testing.T) {
	c := NewChecker(testCatalog(t), Options{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ev Event
			for i := 0; i < 200; i++ {
				if _, ok := c.Check([]byte(envelopeBody), kafkaTime, &ev); !ok || len(ev.Attributes) != 3 {
					t.Error("envelope not accepted with its attributes")
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestAllocs pins the allocation budget: none for an event without escapes,
// one per escaped string.
func TestAllocs(t *testing.T) {
	c := NewChecker(testCatalog(t), Options{})
	for _, tt := range []struct {
		name    string
		payload string
		max     float64
	}{
		{"bare", bareBody, 0},
		{"envelope", envelopeBody, 0},
		{"escaped message", body("error_message", `"a\nb"`), 1},
		{"many attributes", body(manyKeys(40)...), 0},
	} {
		p := []byte(tt.payload)
		var ev Event
		c.Check(p, kafkaTime, &ev) // warm the Event's slices
		if n := testing.AllocsPerRun(100, func() { c.Check(p, kafkaTime, &ev) }); n > tt.max {
			t.Errorf("%s: %v allocs per Check, want <= %v", tt.name, n, tt.max)
		}
	}
}

func manyKeys(n int) []string {
	var kv []string
	for i := 0; i < n; i++ {
		kv = append(kv, "attr_"+string(rune('a'+i%26))+string(rune('a'+i/26)), "1")
	}
	return kv
}
