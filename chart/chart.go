// Package chart draws the query CLI's results as PNG or SVG pictures (query trend --out,
// query top --out) for an incident channel or a postmortem, with gonum.org/v1/plot. Fonts are
// embedded in the plotting library: nothing is read from the machine.
package chart

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Format is an image format: "png" or "svg".
type Format string

// The formats a chart can be written in.
const (
	PNG Format = "png"
	SVG Format = "svg"
)

// Size of every picture: wide enough for a day of buckets, readable in a chat window.
const (
	Width  = 10 * vg.Inch
	Height = 5 * vg.Inch
)

// FormatOf is the format of path from its extension.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		return PNG, nil
	case ".svg":
		return SVG, nil
	}
	return "", fmt.Errorf("--out %s: want a file name ending in .png or .svg", path)
}

// Series is one line of a trend: a name and a count per bucket.
type Series struct {
	Name   string
	Counts []uint64
}

// Trend draws counts per bucket, one line per series, times shown in loc.
func Trend(title string, buckets []time.Time, bucket time.Duration, series []Series, loc *time.Location) (*plot.Plot, error) {
	if len(buckets) == 0 || len(series) == 0 {
		return nil, errors.New("chart: nothing to draw")
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time (" + loc.String() + "), " + short(bucket) + " buckets"
	p.Y.Label.Text = "events per " + short(bucket)
	layout := "15:04"
	if buckets[len(buckets)-1].Sub(buckets[0]) > 36*time.Hour {
		layout = "01-02 15:04"
	}
	p.X.Tick.Marker = plot.TimeTicks{Format: layout, Time: func(t float64) time.Time { return time.Unix(int64(t), 0).In(loc) }}
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	for i, s := range series {
		if len(s.Counts) != len(buckets) {
			return nil, fmt.Errorf("chart: series %q has %d counts for %d buckets", s.Name, len(s.Counts), len(buckets))
		}
		xys := make(plotter.XYs, len(buckets))
		for j, b := range buckets {
			xys[j].X = float64(b.Unix())
			xys[j].Y = float64(s.Counts[j])
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("chart: series %q: %w", s.Name, err)
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(1.5)
		if i == 0 {
			line.Width = vg.Points(2.5) // the total first, thicker
		}
		p.Add(line)
		p.Legend.Add(s.Name, line)
	}
	return p, nil
}

// Bar is one bar of a ranking.
type Bar struct {
	Label string
	Value uint64
}

// Ranking draws horizontal bars, the first bar on top.
func Ranking(title, valueLabel string, bars []Bar) (*plot.Plot, error) {
	if len(bars) == 0 {
		return nil, errors.New("chart: nothing to draw")
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = valueLabel
	vals := make(plotter.Values, len(bars))
	labels := make([]string, len(bars))
	// plot draws the first value at the bottom; reverse so the largest is on top.
	for i, b := range bars {
		vals[len(bars)-1-i] = float64(b.Value)
		labels[len(bars)-1-i] = b.Label
	}
	// Thick bars for a short list, thin ones for a long one; Write makes long lists taller.
	bc, err := plotter.NewBarChart(vals, vg.Points(max(8, min(36, 240/float64(len(bars))))))
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	bc.Horizontal = true
	bc.Color = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	bc.LineStyle.Width = 0
	p.Add(plotter.NewGrid(), bc)
	p.NominalY(labels...)
	p.X.Min = 0
	p.Y.Tick.Label.Font.Size = vg.Points(9)
	return p, nil
}

// short prints a bucket as people write it: 1m, 5m, 1h, not 1m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Write renders p in format f to w.
func Write(w io.Writer, p *plot.Plot, f Format) error {
	height := Height
	if n := len(p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max)); n > 20 {
		height = vg.Length(n) * vg.Points(18) // long rankings stay readable
	}
	wt, err := p.WriterTo(Width, height, string(f))
	if err != nil {
		return fmt.Errorf("chart: %s: %w", f, err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("chart: write %s: %w", f, err)
	}
	return nil
}

// WriteFile renders p into path, its format from the extension; a failed write leaves no
// partial file behind.
func WriteFile(path string, p *plot.Plot) error {
	f, err := FormatOf(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("--out %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := Write(tmp, p, f); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--out %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("--out %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--out %s: %w", path, err)
	}
	return nil
}
