package loadgen_test

import (
	"testing"
	"time"

	"github.com/faultline/faultline/loadgen"
)

// BenchmarkNext measures message generation with the default options
// (reported as events/s and bytes per event besides ns/op and allocs).
func BenchmarkNext(b *testing.B) {
	cat := loadCatalog(b)
	g := loadgen.New(cat, loadgen.DefaultOptions())
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	now := t0
	for i := 0; b.Loop(); i++ {
		m := g.Next(now.Add(time.Duration(i) * time.Microsecond))
		bytes += int64(len(m.Value))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(bytes)/float64(b.N), "B/event")
}
