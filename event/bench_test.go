package event

import (
	"testing"
)

func benchCheck(b *testing.B, payload string) {
	c := NewChecker(testCatalog(b), Options{})
	p := []byte(payload)
	var ev Event
	if rej, ok := c.Check(p, kafkaTime, &ev); !ok {
		b.Fatalf("rejected: %+v", rej)
	}
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, ok := c.Check(p, kafkaTime, &ev); !ok {
			b.Fatal("rejected")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCheckBareBody is the common case: the API's error body as is, of a
// type the catalog knows.
func BenchmarkCheckBareBody(b *testing.B) { benchCheck(b, bareBody) }

// BenchmarkCheckEnvelope adds every envelope field and three attributes, one
// of them a nested object.
func BenchmarkCheckEnvelope(b *testing.B) { benchCheck(b, envelopeBody) }
