package event

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
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
	reportRates(b, cpu0, cpuOK)
}

// reportRates reports events/s (wall clock) and events/cpu-s: events per CPU
// second of this process, which with -cpu 1 is the loop's own CPU (plus GC),
// so it is what one core does whatever else the machine runs.
func reportRates(b *testing.B, cpu0 time.Duration, cpuOK bool) {
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
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

// BenchmarkBaselineEncodingJSON is the yardstick the scanner replaces:
// encoding/json decoding the same bare body into a struct of its five fields,
// without any check or enrichment.
func BenchmarkBaselineEncodingJSON(b *testing.B) {
	p := []byte(bareBody)
	var v struct {
		StatusCode   int    `json:"status_code"`
		RequestID    string `json:"request_id"`
		ErrorType    string `json:"error_type"`
		ErrorMessage string `json:"error_message"`
		ErrorURL     string `json:"error_url"`
	}
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	for range b.N {
		if err := json.Unmarshal(p, &v); err != nil {
			b.Fatal(err)
		}
	}
	reportRates(b, cpu0, cpuOK)
}

// BenchmarkCheckHostile runs near-limit payloads built to be expensive: many
// distinct keys, many repeated keys, deep nesting, escapes everywhere. Each
// must stay linear in its size (about 64 KiB here).
func BenchmarkCheckHostile(b *testing.B) {
	head := `{"status_code":400,"error_type":"x"`
	var keys, dups, esc strings.Builder
	for i := 0; keys.Len() < 60<<10; i++ {
		fmt.Fprintf(&keys, `,"k%d":%d`, i, i)
	}
	for i := 0; dups.Len() < 60<<10; i++ {
		fmt.Fprintf(&dups, `,"k%d":%d`, i%500, i)
	}
	for esc.Len() < 60<<10 {
		esc.WriteString(`\u00e9\ud83d\ude00\n`)
	}
	for _, tt := range []struct{ name, payload string }{
		{"distinct_keys", head + keys.String() + "}"},
		{"repeated_keys", head + dups.String() + "}"},
		{"deep_nesting", head + `,"d":` + strings.Repeat(`[{"a":`, 4990) + "1" + strings.Repeat("}]", 4990) + "}"},
		{"escapes", head + `,"error_message":"` + esc.String() + `"}`},
	} {
		b.Run(tt.name, func(b *testing.B) {
			c := NewChecker(testCatalog(b), Options{})
			p := []byte(tt.payload)
			var ev Event
			if rej, ok := c.Check(p, kafkaTime, &ev); !ok {
				b.Fatalf("rejected: %+v", rej)
			}
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for range b.N {
				c.Check(p, kafkaTime, &ev)
			}
		})
	}
}
