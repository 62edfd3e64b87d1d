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
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	for range b.N {
		if _, ok := c.Check(p, kafkaTime, &ev); !ok {
			b.Fatal("rejected")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// Events per CPU second of this process: with -cpu 1 and no allocations
	// that is the loop's own CPU, so it is what one core does, whatever else
	// the machine runs.
	if cpu1, ok := processCPU(); ok && cpuOK && cpu1 > cpu0 {
		b.ReportMetric(float64(b.N)/(cpu1-cpu0).Seconds(), "events/cpu-s")
	}
}

// BenchmarkCheckBareBody is the common case: the API's error body as is, of a
// type the catalog knows.
func BenchmarkCheckBareBody(b *testing.B) { benchCheck(b, bareBody) }

// BenchmarkCheckEnvelope adds every envelope field and three attributes, one
// of them a nested object.
func BenchmarkCheckEnvelope(b *testing.B) { benchCheck(b, envelopeBody) }
