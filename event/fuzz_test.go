package event

import (
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzCheck asserts, for any payload: no panic; exactly one outcome (accepted
// XOR rejected with a known, non-empty Reason and a short Detail); accepted
// events hold a valid error_type, a status in range and known flags only; the
// outcome and every field agree with encoding/json (see compareWithOracle); and
// an Event reused from an earlier message ends up identical to a fresh one.
// The seed corpus is in testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(bareBody))
	f.Add([]byte(envelopeBody))
	c := NewChecker(testCatalog(f), Options{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		orig := slices.Clone(payload)
		var fresh Event
		rej, ok := c.Check(payload, kafkaTime, &fresh)
		if !slices.Equal(payload, orig) {
			t.Fatal("Check modified the payload")
		}
		if ok {
			if rej != (Rejection{}) {
				t.Fatalf("accepted with a rejection %+v", rej)
			}
			if !validErrorType(fresh.ErrorType) || !errorTypeRe.MatchString(fresh.ErrorType) {
				t.Fatalf("accepted error_type %q", fresh.ErrorType)
			}
			if fresh.StatusCode < 100 || fresh.StatusCode > 599 {
				t.Fatalf("accepted status_code %d", fresh.StatusCode)
			}
			if fresh.Flags >= flagEnd {
				t.Fatalf("unknown flag bits %b", fresh.Flags)
			}
			switch fresh.Environment {
			case EnvTest, EnvLive, EnvUnknown:
			default:
				t.Fatalf("environment %q", fresh.Environment)
			}
			if fresh.Category == "" || fresh.Actor == "" || fresh.Time.IsZero() {
				t.Fatalf("not enriched: %+v", fresh)
			}
			if fresh.Known == fresh.Flags.Has(FlagUnknownErrorType) {
				t.Fatalf("known=%v with flags %v", fresh.Known, fresh.Flags)
			}
		} else {
			if !rej.Reason.Valid() {
				t.Fatalf("rejected with unknown reason %q", rej.Reason)
			}
			if rej.Detail == "" || len(rej.Detail) > 200 || !utf8.ValidString(rej.Detail) {
				t.Fatalf("detail %q", rej.Detail)
			}
		}
		if len(payload) <= DefaultMaxMessageBytes {
			compareWithOracle(t, payload, rej, ok, &fresh)
		} else if ok || rej.Reason != ReasonTooLarge {
			t.Fatalf("%d bytes: got %+v, %v", len(payload), rej, ok)
		}

		// Reuse: an Event that held another message must end up the same.
		var reused Event
		if _, ok := c.Check([]byte(envelopeBody), kafkaTime, &reused); !ok {
			t.Fatal("envelope rejected")
		}
		rej2, ok2 := c.Check(payload, kafkaTime, &reused)
		if rej2 != rej || ok2 != ok {
			t.Fatalf("reused event: %+v %v, fresh: %+v %v", rej2, ok2, rej, ok)
		}
		if ok {
			fresh.attrIndex, reused.attrIndex = nil, nil
			if len(fresh.Attributes) == 0 {
				fresh.Attributes, reused.Attributes = nil, nil
			}
			if !reflect.DeepEqual(fresh, reused) {
				t.Fatalf("reused event differs:\n%+v\n%+v", reused, fresh)
			}
		}
	})
}
