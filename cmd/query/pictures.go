package main

import (
	"fmt"

	"github.com/faultline/faultline/chart"
	"github.com/faultline/faultline/query"
)

// maxChartBars bounds the bars of a top picture: a ranking longer than that is unreadable.
const maxChartBars = 20

// outFlagHelp is the --out flag's help of trend and top.
const outFlagHelp = "also draw the result into this .png or .svg file (for an incident channel or a postmortem)"

// checkOut rejects a bad --out before any query runs.
func checkOut(path string) error {
	if path == "" {
		return nil
	}
	_, err := chart.FormatOf(path)
	return err
}

// trendPicture draws the total and the busiest types of res into path.
func (a *app) trendPicture(path string, res *query.TrendResult) error {
	if res.All.Total == 0 {
		fmt.Fprintf(a.stderr, "no events: %s not written\n", path)
		return nil
	}
	series := []chart.Series{{Name: "all", Counts: res.All.Counts}}
	for _, s := range res.Types {
		series = append(series, chart.Series{Name: s.ErrorType, Counts: s.Counts})
	}
	p, err := chart.Trend("faultline events "+a.fmtTime(res.Since)+" - "+a.fmtTime(res.Until), res.Buckets, res.Bucket, series, a.loc)
	if err != nil {
		return err
	}
	return a.wrotePicture(path, chart.WriteFile(path, p))
}

// topPicture draws the busiest error types of res into path.
func (a *app) topPicture(path string, f query.Filter, res *query.TopResult) error {
	if res.Total == 0 {
		fmt.Fprintf(a.stderr, "no events: %s not written\n", path)
		return nil
	}
	var bars []chart.Bar
	for _, r := range res.Rows[:min(len(res.Rows), maxChartBars)] {
		bars = append(bars, chart.Bar{Label: r.ErrorType, Value: r.Count})
	}
	title := fmt.Sprintf("top error types between %s (%d events)", a.window(f), res.Total)
	p, err := chart.Ranking(title, "events", bars)
	if err != nil {
		return err
	}
	return a.wrotePicture(path, chart.WriteFile(path, p))
}

func (a *app) wrotePicture(path string, err error) error {
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "chart written to %s\n", path)
	return nil
}
