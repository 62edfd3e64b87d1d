// Package alerting generates faultline's Prometheus recording and alerting rules
// (deploy/prometheus/rules/faultline.rules.yml) from the error catalog and its overrides.
//
// Design (deploy/prometheus/README.md explains it at length): the per-error-type work is done
// by a handful of recording rules that keep error_type as a label, not by one rule per type.
// A catalog entry whose alert policy changes the factor or the floor adds one tiny constant
// series (faultline:spike_policy:factor / :floor_per_second) that the threshold rule joins on
// error_type, falling back to the defaults with `or`. Entries whose severity differs from the
// default (page) get a dedicated alert that carries the entry's remediation, actor and docs URL;
// every other type shares one generic spike alert.
package alerting

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline/faultline/catalog"
	"go.yaml.in/yaml/v3"
)

// RuleFile is a Prometheus rule file.
type RuleFile struct {
	Groups []Group `yaml:"groups"`
}

// Group is one rule group.
type Group struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval,omitempty"`
	Rules    []Rule `yaml:"rules"`
}

// Rule is a recording rule (Record set) or an alerting rule (Alert set).
type Rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Names of recording rules that dashboards and alerts share.
const (
	RecEventsRate5m        = "faultline:events:rate5m"
	RecEventsRatePrevHour  = "faultline:events:rate1h_prev"
	RecEventsRateTimeOfDay = "faultline:events:rate5m_same_time_7d"
	RecEventsBaseline      = "faultline:events:baseline"
	RecPolicyFactor        = "faultline:spike_policy:factor"
	RecPolicyFloor         = "faultline:spike_policy:floor_per_second"
	RecSpikeFactor         = "faultline:events:spike_factor"
	RecSpikeFloor          = "faultline:events:spike_floor"
	RecSpikeThreshold      = "faultline:events:spike_threshold"
	RecByCategory          = "faultline:events_by_category:rate5m"
	RecConsumed            = "faultline:messages_consumed:rate5m"
	RecStored              = "faultline:rows_stored:rate5m"
	RecRejected            = "faultline:rejected:rate5m"
	RecQuarantineRatio     = "faultline:quarantine:ratio_rate5m"
	RecLagSeconds          = "faultline:consumer_lag_seconds:max"
	RecLagMessages         = "faultline:consumer_lag_messages:sum"
	RecInsertErrorRatio    = "faultline:insert_errors:ratio_rate5m"
	RecInsertP99           = "faultline:insert_duration_seconds:p99_rate5m"
)

// Thresholds of the pipeline alerts. They are constants of the generator, not of the catalog,
// because they describe the ingester, not an error type.
const (
	QuarantineShareMax     = 0.05 // of consumed messages, over 5m
	QuarantineMinRate      = 0.1  // messages/s consumed before the share means anything
	LagSecondsMax          = 300  // the newest stored event is 5 minutes old
	InsertErrorRatioMax    = 0.5  // of insert attempts, over 5m
	SpikeFor               = "2m"
	DedicatedAlertSuffix   = "Spike"
	GenericSpikeAlert      = "FaultlineErrorSpike"
	UnknownTypesAlert      = "FaultlineUnknownErrorTypes"
	QuarantineShareAlert   = "FaultlineQuarantineShareHigh"
	LagAlert               = "FaultlineConsumerLagHigh"
	StalledAlert           = "FaultlineIngesterStalled"
	InsertsFailingAlert    = "FaultlineClickHouseInsertsFailing"
	LedgerBrokenAlert      = "FaultlineOffsetLedgerBroken"
	MessagesExpiredAlert   = "FaultlineMessagesExpired"
	ViewsUncheckedAlert    = "FaultlineViewsUnchecked"
	errorTypeDashboardPath = "/d/faultline-error-type/faultline-error-type?var-error_type="
)

// The spike rule's periods. `query spikes --window 5m --baseline 1h --days 7` judges the same
// periods (query's agreement test runs both on the same series): the last SpikeWindow against
// the larger of the SpikeRecent before it and the same SpikeWindow on each of the SpikeDays
// previous days, averaged over the days with data.
const (
	SpikeWindow = "5m"
	SpikeRecent = "1h"
	SpikeDays   = 7
)

// timeOfDayExpr is the seasonal baseline: the same 5m on each previous day, one series per day
// (label_replace gives each offset its own "day" label so `or` keeps them all), averaged by
// avg, which skips days without the series, as `query spikes` skips unrecorded days. By
// error_type only, as the recent baseline: see Generate.
func timeOfDayExpr() string {
	lines := []string{"# the same " + SpikeWindow + " on each of the " + strconv.Itoa(SpikeDays) + " previous days, averaged over the days that have data",
		"avg by (error_type) ("}
	for d := 1; d <= SpikeDays; d++ {
		or := "or "
		if d == 1 {
			or = ""
		}
		lines = append(lines, fmt.Sprintf(`  %slabel_replace(sum by (error_type) (rate(faultline_events_total[%s] offset %dd)), "day", "%d", "", "")`,
			or, SpikeWindow, d, d))
	}
	return strings.Join(append(lines, ")"), "\n")
}

// DedicatedAlertName is the name of the dedicated spike alert of errorType, e.g.
// billing_not_verified -> FaultlineBillingNotVerifiedSpike.
func DedicatedAlertName(errorType string) string {
	var b strings.Builder
	b.WriteString("Faultline")
	for _, part := range strings.Split(errorType, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	b.WriteString(DedicatedAlertSuffix)
	return b.String()
}

// Generate builds the rule file for c.
func Generate(c *catalog.Catalog) RuleFile {
	def := catalog.AlertPolicy{Factor: catalog.DefaultAlertFactor, FloorPerMinute: catalog.DefaultAlertFloor, Severity: catalog.DefaultAlertSeverity}
	var policy []Rule
	var dedicated []catalog.Entry
	for _, e := range c.Entries() {
		p := c.Policy(e.ErrorType)
		if p.Factor != def.Factor {
			policy = append(policy, Rule{Record: RecPolicyFactor, Expr: "vector(" + num(p.Factor) + ")",
				Labels: map[string]string{"error_type": e.ErrorType}})
		}
		if p.FloorPerMinute != def.FloorPerMinute {
			policy = append(policy, Rule{Record: RecPolicyFloor, Expr: "vector(" + num(p.FloorPerMinute/60) + ")",
				Labels: map[string]string{"error_type": e.ErrorType}})
		}
		if p.Severity != def.Severity {
			dedicated = append(dedicated, e)
		}
	}

	rec := []Rule{
		{Record: RecEventsRate5m, Expr: `sum by (error_type, category) (rate(faultline_events_total[` + SpikeWindow + `]))`},
		// The hour before the current 5m window, so a spike does not raise its own baseline.
		// The baselines are by error_type only: a catalog change that moves a type to
		// another category starts new series (the ingesters restart with the new label),
		// and a baseline kept by (error_type, category) would have no history for them, so
		// a steady type would meet only the floor and fire. The category comes back from
		// the current rate in RecEventsBaseline.
		{Record: RecEventsRatePrevHour, Expr: `sum by (error_type) (rate(faultline_events_total[` + SpikeRecent + `] offset ` + SpikeWindow + `))`},
		// What is usual for this time of day: daily seasonality.
		{Record: RecEventsRateTimeOfDay, Expr: timeOfDayExpr()},
		{Record: RecEventsBaseline, Expr: strings.Join([]string{
			"# the larger of the previous hour and the usual rate at this time of day, whichever exists,",
			"# on every current series of the type (its category as now labelled);",
			"# 0 for a type with no history yet (then only the floor applies)",
			RecEventsRate5m + " * 0 + on (error_type) group_left () (",
			"  (" + RecEventsRatePrevHour + " >= " + RecEventsRateTimeOfDay + ")",
			"  or " + RecEventsRateTimeOfDay,
			"  or " + RecEventsRatePrevHour,
			")",
			"or " + RecEventsRate5m + " * 0",
		}, "\n")},
	}
	rec = append(rec, policy...)
	rec = append(rec,
		Rule{Record: RecSpikeFactor, Expr: strings.Join([]string{
			"(" + RecEventsRate5m + " * 0 + on (error_type) group_left () " + RecPolicyFactor + ")",
			"or (" + RecEventsRate5m + " * 0 + " + num(def.Factor) + ")",
		}, "\n")},
		Rule{Record: RecSpikeFloor, Expr: strings.Join([]string{
			"(" + RecEventsRate5m + " * 0 + on (error_type) group_left () " + RecPolicyFloor + ")",
			"or (" + RecEventsRate5m + " * 0 + " + num(def.FloorPerMinute/60) + ")",
		}, "\n")},
		Rule{Record: RecSpikeThreshold, Expr: strings.Join([]string{
			"# max(factor x baseline, floor), in events per second",
			"(" + RecEventsBaseline + " * " + RecSpikeFactor + " >= " + RecSpikeFloor + ")",
			"or " + RecSpikeFloor,
		}, "\n")},
		Rule{Record: RecByCategory, Expr: `sum by (category, environment) (rate(faultline_events_total[5m]))`},
		Rule{Record: RecConsumed, Expr: `sum by (topic) (rate(faultline_messages_consumed_total[5m]))`},
		Rule{Record: RecStored, Expr: `sum by (table) (rate(faultline_rows_stored_total[5m]))`},
		Rule{Record: RecRejected, Expr: `sum by (reason) (rate(faultline_rejected_total[5m]))`},
		Rule{Record: RecQuarantineRatio, Expr: "sum(rate(faultline_rejected_total[5m]))\n/\nsum(rate(faultline_messages_consumed_total[5m]))"},
		Rule{Record: RecLagSeconds, Expr: `max by (topic) (faultline_consumer_lag_seconds)`},
		Rule{Record: RecLagMessages, Expr: `sum by (topic) (faultline_consumer_lag_messages)`},
		Rule{Record: RecInsertErrorRatio, Expr: strings.Join([]string{
			"sum by (table) (rate(faultline_insert_errors_total[5m]))",
			"/",
			"(",
			"  sum by (table) (rate(faultline_insert_errors_total[5m]))",
			"  + sum by (table) (rate(faultline_insert_duration_seconds_count[5m]))",
			")",
		}, "\n")},
		Rule{Record: RecInsertP99, Expr: `histogram_quantile(0.99, sum by (table, le) (rate(faultline_insert_duration_seconds_bucket[5m])))`},
	)

	var alerts []Rule
	for _, e := range dedicated {
		p := c.Policy(e.ErrorType)
		alerts = append(alerts, Rule{
			Alert: DedicatedAlertName(e.ErrorType),
			Expr:  RecEventsRate5m + `{error_type="` + e.ErrorType + `"}` + "\n> " + RecSpikeThreshold,
			For:   SpikeFor,
			Labels: map[string]string{
				"severity": p.Severity,
				"team":     "faultline",
			},
			Annotations: map[string]string{
				"summary": e.ErrorType + " is spiking: {{ $value | humanize }} events/s",
				"description": fmt.Sprintf("%s errors run at {{ $value | humanize }}/s over 5m, above max(%s x baseline, %s/min). %s",
					e.ErrorType, num(p.Factor), num(p.FloorPerMinute), oneLine(e.Description)),
				"remediation": oneLine(e.Remediation),
				"actor":       e.Actor,
				"docs_url":    e.ErrorURL,
				"dashboard":   errorTypeDashboardPath + e.ErrorType,
			},
		})
	}
	exclude := ""
	if len(dedicated) > 0 {
		names := make([]string, len(dedicated))
		for i, e := range dedicated {
			names[i] = regexp.QuoteMeta(e.ErrorType)
		}
		slices.Sort(names)
		exclude = `{error_type!~"` + strings.Join(names, "|") + `"}`
	}
	alerts = append(alerts,
		Rule{
			Alert:  GenericSpikeAlert,
			Expr:   RecEventsRate5m + exclude + "\n> " + RecSpikeThreshold,
			For:    SpikeFor,
			Labels: map[string]string{"severity": def.Severity, "team": "faultline"},
			Annotations: map[string]string{
				"summary":     "{{ $labels.error_type }} is spiking: {{ $value | humanize }} events/s",
				"description": "{{ $labels.error_type }} ({{ $labels.category }}) errors run at {{ $value | humanize }}/s over 5m, above max(factor x baseline, floor) from its catalog policy. `faultline-query` or the Error type dashboard show the remediation and the organizations affected.",
				"dashboard":   errorTypeDashboardPath + "{{ $labels.error_type }}",
			},
		},
		Rule{
			Alert:  UnknownTypesAlert,
			Expr:   countedLately("counted in the last 15m, or a series that did not exist 15m ago (its first event)", "error_type", `faultline_events_total{category="unknown"}`),
			Labels: map[string]string{"severity": catalog.SeverityTicket, "team": "faultline"},
			Annotations: map[string]string{
				"summary":     "Unknown error type {{ $labels.error_type }} is arriving",
				"description": "Events of error_type {{ $labels.error_type }} are not in the catalog (category unknown). Curate it in catalog/curation.yaml or the overrides file; _other_unknown means more unknown types than metrics.max_unknown_error_types.",
			},
		},
		Rule{
			Alert: QuarantineShareAlert,
			Expr: RecQuarantineRatio + " > " + num(QuarantineShareMax) +
				"\nand on () sum(rate(faultline_messages_consumed_total[5m])) > " + num(QuarantineMinRate),
			For:    "10m",
			Labels: map[string]string{"severity": catalog.SeverityTicket, "team": "faultline"},
			Annotations: map[string]string{
				"summary":     "{{ $value | humanizePercentage }} of consumed messages go to quarantine",
				"description": "More than " + num(QuarantineShareMax*100) + "% of messages were rejected for 10m. See faultline:rejected:rate5m by reason and the quarantine table (reason, detail, payload).",
			},
		},
		Rule{
			Alert:  LagAlert,
			Expr:   RecLagSeconds + " > " + num(LagSecondsMax),
			For:    "5m",
			Labels: map[string]string{"severity": catalog.SeverityPage, "team": "faultline"},
			Annotations: map[string]string{
				"summary":     "Consumer lag on {{ $labels.topic }} is {{ $value | humanizeDuration }}",
				"description": "The oldest unread message of an owned partition is older than " + strconv.Itoa(LagSecondsMax) + "s for 5m: dashboards and spike alerts run late. Check insert latency, ClickHouse errors and inflight bytes on the Pipeline dashboard.",
			},
		},
		Rule{
			Alert: StalledAlert,
			Expr: strings.Join([]string{
				"sum by (instance, job, topic) (delta(faultline_consumer_lag_messages[10m])) > 0",
				"and on (instance, job)",
				`sum by (instance, job) (increase(faultline_commits_total{result="ok"}[10m])) == 0`,
			}, "\n"),
			For:    "5m",
			Labels: map[string]string{"severity": catalog.SeverityPage, "team": "faultline"},
			Annotations: map[string]string{
				"summary":     "Ingester {{ $labels.instance }} is stalled on {{ $labels.topic }}",
				"description": "Lag grew over 10m while the ingester committed nothing. It is blocked (ClickHouse down, inflight bytes at the limit, stuck rebalance): check its logs and the Pipeline dashboard.",
			},
		},
		Rule{
			Alert:  InsertsFailingAlert,
			Expr:   RecInsertErrorRatio + " > " + num(InsertErrorRatioMax),
			For:    "5m",
			Labels: map[string]string{"severity": catalog.SeverityPage, "team": "faultline"},
			Annotations: map[string]string{
				"summary":     "{{ $value | humanizePercentage }} of inserts into {{ $labels.table }} fail",
				"description": "More than half the insert attempts into ClickHouse table {{ $labels.table }} failed for 5m. faultline_insert_errors_total by class says whether it is retryable (server down, TOO_MANY_PARTS), data or fatal.",
			},
		},
		Rule{
			Alert:  LedgerBrokenAlert,
			Expr:   countedLately("a breach counted in the last 15m, or a breach series that did not exist 15m ago", "instance, topic, partition", "faultline_ledger_breaches_total"),
			Labels: map[string]string{"severity": catalog.SeverityPage, "team": "faultline"},
			Annotations: map[string]string{
				"summary":     "Offset ledger broken on {{ $labels.topic }}/{{ $labels.partition }}",
				"description": "A committed offset was found past an offset that is neither stored nor quarantined: events may be lost. Stop committing (stop the ingester), compare faultline_offset_committed with faultline_offset_stored/quarantined, and re-consume from the last good offset.",
			},
		},
		Rule{
			Alert:  MessagesExpiredAlert,
			Expr:   countedLately("counted in the last 15m, or a series that did not exist 15m ago", "instance, topic", "faultline_messages_expired_total"),
			Labels: map[string]string{"severity": catalog.SeverityPage, "team": "faultline"},
			Annotations: map[string]string{
				"summary":     "Messages of {{ $labels.topic }} expired before the ingester read them",
				"description": "The partition's log no longer held offsets the group had not read (retention or a deleted range): those messages are gone and were never stored. The ingester read on from the log's first offset. Find out why it fell that far behind (lag, an outage) and whether the topic's retention is shorter than outages last.",
			},
		},
		Rule{
			Alert:  ViewsUncheckedAlert,
			Expr:   countedLately("counted in the last 15m, or a series that did not exist 15m ago", "instance, table", "faultline_views_unchecked_total"),
			Labels: map[string]string{"severity": catalog.SeverityTicket, "team": "faultline"},
			Annotations: map[string]string{
				"summary":     "A cluster block's views into {{ $labels.table }} could not be checked",
				"description": "A block that landed during a failed insert was not all visible on a synced replica in time, so whether its views (stored_offsets, the per-minute rollup) ran was not checked. Its rows are stored; if the views did not run, the rollup is short for its minutes and a later owner of the partition does not see its offsets as stored and stores them again. Check the shard's replicas (system.replicas, ZooKeeper) and the ingester's log for the block.",
			},
		},
	)

	return RuleFile{Groups: []Group{
		{Name: "faultline.recording", Rules: rec},
		{Name: "faultline.alerts", Rules: alerts},
	}}
}

// Marshal renders f as the committed YAML, with a header naming the catalog version.
func Marshal(f RuleFile, catalogVersion string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Code generated by faultline-gen rules from the error catalog " + catalogVersion + ". DO NOT EDIT.\n")
	buf.WriteString("# Regenerate with `go generate ./alerting`; design in deploy/prometheus/README.md.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("alerting: encode rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("alerting: encode rules: %w", err)
	}
	return buf.Bytes(), nil
}

// Exprs returns every expression of f keyed by its rule name (record or alert name, with an
// index suffix when a name repeats), for tests that execute them.
func (f RuleFile) Exprs() map[string]string {
	out := make(map[string]string)
	for _, g := range f.Groups {
		for i, r := range g.Rules {
			name := r.Record + r.Alert
			if _, dup := out[name]; dup {
				name = fmt.Sprintf("%s#%d", name, i)
			}
			out[name] = r.Expr
		}
	}
	return out
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// oneLine folds whitespace so an annotation stays one readable line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// countedLately is an alert expression for a counter that grew in the last 15m or whose series
// is new (a counter born at its first count has no increase to show for it), summed by the
// labels in by; comment heads the expression in the rules file.
func countedLately(comment, by, series string) string {
	return strings.Join([]string{
		"# " + comment,
		"sum by (" + by + ") (increase(" + series + "[15m])) > 0",
		"or (sum by (" + by + ") (" + series + ") > 0",
		"    unless sum by (" + by + ") (" + series + " offset 15m))",
	}, "\n")
}
