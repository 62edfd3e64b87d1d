package chart

import (
	"bytes"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func trendPlot(t *testing.T) (*time.Location, []time.Time) {
	t.Helper()
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var buckets []time.Time
	for i := 0; i < 60; i++ {
		buckets = append(buckets, start.Add(time.Duration(i)*time.Minute))
	}
	return time.UTC, buckets
}

func TestTrendPNGAndSVG(t *testing.T) {
	loc, buckets := trendPlot(t)
	all := make([]uint64, len(buckets))
	spike := make([]uint64, len(buckets))
	for i := range buckets {
		all[i] = 100 + uint64(i%7)
		if i >= 40 && i < 50 {
			spike[i] = 400
		}
	}
	series := []Series{{"all", all}, {"billing_not_verified", spike}}
	for _, c := range []struct {
		f           Format
		contentType string
	}{{PNG, "image/png"}, {SVG, "image/svg+xml"}} {
		t.Run(string(c.f), func(t *testing.T) {
			p, err := Trend("events 10:00-11:00 UTC", buckets, time.Minute, series, loc)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Write(&buf, p, c.f); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			// net/http sniffs PNG by its signature; SVG sniffs as XML, so check the root element.
			if got := http.DetectContentType(b); c.f == PNG && got != c.contentType || c.f == SVG && !strings.HasPrefix(got, "text/xml") {
				t.Errorf("content type %q, want %s", got, c.contentType)
			}
			switch c.f {
			case PNG:
				img, err := png.Decode(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("not a PNG: %v", err)
				}
				// 10x5 inches at the library's 96 dpi.
				if sz := img.Bounds().Size(); sz.X != 960 || sz.Y != 480 {
					t.Errorf("PNG is %v, want 960x480", sz)
				}
				if len(b) < 10_000 {
					t.Errorf("PNG of %d bytes: too small to hold lines, axes and a legend", len(b))
				}
			case SVG:
				s := string(b)
				if !strings.Contains(s, "<svg") || !strings.Contains(s, `width="720pt"`) || !strings.Contains(s, `height="360pt"`) {
					t.Errorf("SVG header wrong: %.300s", s)
				}
				if n := strings.Count(s, "<path"); n < 10 {
					t.Errorf("SVG has %d paths, want the axes, grid, and two lines", n)
				}
			}
		})
	}
}

func TestRankingFileAndErrors(t *testing.T) {
	dir := t.TempDir()
	p, err := Ranking("top error types, last 24h", "events", []Bar{{"billing_not_verified", 900}, {"duplicate_email", 300}, {"invalid_api_key", 20}})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "top.png")
	if err := WriteFile(out, p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := http.DetectContentType(b); got != "image/png" {
		t.Errorf("content type %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d files, want only top.png (no temp file left)", len(entries))
	}

	if err := WriteFile(filepath.Join(dir, "top.jpg"), p); err == nil || !strings.Contains(err.Error(), ".png or .svg") {
		t.Errorf("jpg: %v", err)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "top.svg"), p); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing dir: %v", err)
	}
	if _, err := Ranking("x", "events", nil); err == nil {
		t.Error("empty ranking drew")
	}
	if _, err := Trend("x", []time.Time{time.Now()}, time.Minute, []Series{{"a", []uint64{1, 2}}}, time.UTC); err == nil {
		t.Error("mismatched series drew")
	}
}

func TestFormatOf(t *testing.T) {
	for in, want := range map[string]Format{"a.png": PNG, "b.SVG": SVG, "dir/c.svg": SVG, "d.jpeg": "", "e": ""} {
		got, err := FormatOf(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("FormatOf(%q) = %q, %v", in, got, err)
		}
	}
}
