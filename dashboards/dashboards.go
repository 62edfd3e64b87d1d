// Package dashboards builds faultline's Grafana dashboards as code with the
// grafana-foundation-sdk: Overview, Error type and Pipeline. Prometheus panels read the
// recording rules of deploy/prometheus/rules (package alerting) where one exists; ClickHouse
// panels read the events, quarantine, catalog and events_per_minute tables through the
// grafana-clickhouse-datasource plugin.
//
// The JSON is committed under dashboards/json (`go generate ./dashboards`) and provisioned by
// deploy/grafana. Tests check it against regeneration, decode it strictly with the SDK, run
// every ClickHouse query (macros expanded) on ClickHouse 18.16 and 26.7, and every PromQL
// expression against a Prometheus scraping a real ingester.
//
// ClickHouse 18.16 has no toStartOfInterval, which is what the plugin's $__timeInterval(col)
// expands to, so time series panels bucket with
// toDateTime(intDiv(toUInt32(col), $__interval_s) * $__interval_s) instead.
package dashboards

import (
	"encoding/json"
	"fmt"

	"github.com/faultline/faultline/alerting"
	"github.com/faultline/faultline/catalog"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Datasource UIDs, as provisioned in deploy/grafana/provisioning/datasources.
const (
	PrometheusUID = "faultline-prometheus"
	ClickHouseUID = "faultline-clickhouse"
)

// Dashboard UIDs; the alert annotations link to ErrorTypeUID.
const (
	OverviewUID  = "faultline-overview"
	ErrorTypeUID = "faultline-error-type"
	PipelineUID  = "faultline-pipeline"
)

var (
	promDS = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr(PrometheusUID)}
	chDS   = common.DataSourceRef{Type: cog.ToPtr(ClickHouseType), Uid: cog.ToPtr(ClickHouseUID)}
)

// Files maps each committed file name to its dashboard builder.
func builders() map[string]*dashboard.DashboardBuilder {
	return map[string]*dashboard.DashboardBuilder{
		"overview.json":   overview(),
		"error-type.json": errorType(),
		"pipeline.json":   pipeline(),
	}
}

// Build returns every dashboard keyed by its file name.
func Build() (map[string]dashboard.Dashboard, error) {
	out := make(map[string]dashboard.Dashboard)
	for name, b := range builders() {
		d, err := b.Build()
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		out[name] = d
	}
	return out, nil
}

// Render returns every dashboard as indented JSON, keyed by file name.
func Render() (map[string][]byte, error) {
	ds, err := Build()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(ds))
	for name, d := range ds {
		b, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: encode: %w", name, err)
		}
		out[name] = append(b, '\n')
	}
	return out, nil
}

// --- building blocks ---

func prom(ref, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId(ref).Datasource(promDS).Expr(expr).LegendFormat(legend).Range()
}

func promInstant(ref, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId(ref).Datasource(promDS).Expr(expr).LegendFormat(legend).Instant().
		Format(prometheus.PromQueryFormatTable)
}

func chTable(sql string) ClickHouseQuery {
	return ClickHouseQuery{RefId: "A", Datasource: &chDS, EditorType: "sql", QueryType: "table", Format: FormatTable, RawSql: sql}
}

func chSeries(sql string) ClickHouseQuery {
	return ClickHouseQuery{RefId: "A", Datasource: &chDS, EditorType: "sql", QueryType: "timeseries", Format: FormatTimeSeries, RawSql: sql}
}

func series(id uint32, title, desc, unit string, w, h uint32, targets ...cog.Builder[variants.Dataquery]) *timeseries.PanelBuilder {
	ds := promDS
	if len(targets) > 0 {
		if _, ok := targets[0].(ClickHouseQuery); ok {
			ds = chDS
		}
	}
	return timeseries.NewPanelBuilder().Id(id).Title(title).Description(desc).Unit(unit).
		Span(w).Height(h).Datasource(ds).Targets(targets).FillOpacity(10).LineWidth(1)
}

func tablePanel(id uint32, title, desc string, w, h uint32, target cog.Builder[variants.Dataquery]) *table.PanelBuilder {
	ds := promDS
	if _, ok := target.(ClickHouseQuery); ok {
		ds = chDS
	}
	return table.NewPanelBuilder().Id(id).Title(title).Description(desc).Span(w).Height(h).
		Datasource(ds).WithTarget(target).
		// The SDK leaves footer.reducer null, which its own strict decoder then rejects.
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}))
}

func statPanel(id uint32, title, desc, unit string, w, h uint32, target cog.Builder[variants.Dataquery]) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Id(id).Title(title).Description(desc).Unit(unit).Span(w).Height(h).
		Datasource(promDS).WithTarget(target).GraphMode(common.BigValueGraphModeArea)
}

func base(uid, title, desc string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).Uid(uid).Description(desc).
		Tags([]string{"faultline"}).Timezone("utc").Time("now-6h", "now").Refresh("1m").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewConstantVariableBuilder("database").
			Description("ClickHouse database of faultline (config clickhouse.database).").
			Value(dashboard.StringOrMap{String: cog.ToPtr("faultline")})).
		Link(dashboard.NewDashboardLinkBuilder("faultline").Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"faultline"}).AsDropdown(true).KeepTime(true).IncludeVars(false))
}

// Category, as the ClickHouse panels show and filter it, is the current catalog's: the rows of
// events and events_per_minute keep the category they were stamped with at insert, and the
// panels join the catalog table's newest entry of each type onto them by error_type (the
// stamped category stays for types outside the catalog). The rollup is first summed by
// (error_type, stamped category) and whatever else the panel groups by, so the join meets a
// few rows per type, never one per minute.
const (
	// currentCatalog is the right side of the join: each type's newest entry (FINAL), with
	// in_catalog = 1 to tell a match from the join's default values. Named, as 26.7 wants
	// joined subqueries to be.
	currentCatalog = `(SELECT error_type, category AS catalog_category, toUInt8(1) AS in_catalog FROM ${database}.catalog FINAL) AS current_catalog`
	// currentCategory picks the catalog's category when the type is in it.
	currentCategory = `if(in_catalog = 1, catalog_category, stamped_category)`
	// categoryValues is the multi-value $category variable as an array; category names hold
	// no commas. See README: no variable reaches SQL other than percent-encoded and decoded.
	categoryValues = `splitByChar(',', replaceRegexpAll(decodeURLComponent('${category:percentencode}'), '[{}]', ''))`
	// categoryIn is the $category filter on a column or alias named category.
	categoryIn = `has(` + categoryValues + `, category)`
)

// --- Overview ---

func overview() *dashboard.DashboardBuilder {
	cats := append(catalog.CategoryNames(), "unknown")
	return base(OverviewUID, "faultline / Overview",
		"Errors per second by category and type, top types, test vs live, unknown types and quarantine.").
		WithVariable(dashboard.NewCustomVariableBuilder("category").Label("Category").AllowCustomValue(false).
			Values(dashboard.StringOrMap{String: cog.ToPtr(joinComma(cats))}).
			Multi(true).IncludeAll(true).
			Current(dashboard.VariableOption{Text: dashboard.StringOrArrayOfString{String: cog.ToPtr("All")},
				Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("$__all")}})).
		WithPanel(series(1, "Errors/s by category", "Stored events per second (5m rate) by catalog category, all environments.", "reqps", 12, 8,
			prom("A", `sum by (category) (`+alerting.RecByCategory+`{category=~"${category:regex}"})`, "{{category}}"))).
		WithPanel(series(2, "Errors/s, top 10 types", "The ten busiest error types right now (5m rate).", "reqps", 12, 8,
			prom("A", `topk(10, `+alerting.RecEventsRate5m+`{category=~"${category:regex}"})`, "{{error_type}}"))).
		WithPanel(series(3, "Test vs live", "Events per second by environment: billing errors only block live.", "reqps", 8, 7,
			prom("A", `sum by (environment) (`+alerting.RecByCategory+`{category=~"${category:regex}"})`, "{{environment}}"))).
		WithPanel(series(4, "Unknown error types/s", "Events whose error_type is not in the catalog (category unknown).", "reqps", 8, 7,
			prom("A", `sum by (error_type) (`+alerting.RecEventsRate5m+`{category="unknown"})`, "{{error_type}}"))).
		WithPanel(statPanel(5, "Quarantine share", "Rejected messages / consumed messages over 5m.", "percentunit", 4, 7,
			promInstant("A", alerting.RecQuarantineRatio, "share"))).
		WithPanel(statPanel(6, "Spiking types", "Error types above their spike threshold (max(factor x baseline, floor)) now.", "none", 4, 7,
			promInstant("A", `count(`+alerting.RecEventsRate5m+` > `+alerting.RecSpikeThreshold+`) or vector(0)`, "types"))).
		WithPanel(tablePanel(7, "Top error types", "Events in the time range from the per-minute rollup (ClickHouse), with each type's category in the current catalog.", 12, 10,
			chTable(`SELECT error_type, `+currentCategory+` AS category, sum(n) AS events
FROM (
    SELECT error_type, category AS stamped_category, sum(events) AS n
    FROM ${database}.events_per_minute
    WHERE $__timeFilter(minute)
    GROUP BY error_type, stamped_category
) AS rollup
ANY LEFT JOIN `+currentCatalog+` USING error_type
WHERE $__conditionalAll(`+categoryIn+`, $category)
GROUP BY error_type, category
ORDER BY events DESC, error_type
LIMIT 20`))).
		WithPanel(tablePanel(8, "Unknown error types", "Error types not in the catalog the ingester checked them with, nor in the current one, first and last seen in the time range (ClickHouse).", 12, 10,
			chTable(`SELECT error_type, count() AS events, uniq(organization_id) AS organizations,
    min(event_time) AS first_seen, max(event_time) AS last_seen
FROM ${database}.events
WHERE $__timeFilter(event_time) AND known = 0 AND error_type NOT IN (SELECT error_type FROM ${database}.catalog)
GROUP BY error_type
ORDER BY events DESC
LIMIT 50`))).
		WithPanel(series(9, "Quarantined messages/s by reason", "Messages stored in quarantine instead of events, by reason.", "reqps", 12, 8,
			prom("A", alerting.RecRejected, "{{reason}}"))).
		WithPanel(tablePanel(10, "Quarantine by reason", "Rejected messages in the time range with an example detail (ClickHouse quarantine table).", 12, 8,
			chTable(`SELECT reason, count() AS messages, sum(payload_bytes) AS bytes, any(detail) AS example_detail,
    max(received_at) AS last_seen
FROM ${database}.quarantine
WHERE $__timeFilter(received_at)
GROUP BY reason
ORDER BY messages DESC`))).
		WithPanel(series(11, "Events per interval by environment (ClickHouse)", "Stored events per time bucket from the per-minute rollup; the category filter reads the current catalog.", "short", 24, 8,
			chSeries(`SELECT time, environment, sum(n) AS events
FROM (
    SELECT toDateTime(intDiv(toUInt32(minute), $__interval_s) * $__interval_s) AS time, environment, error_type,
        category AS stamped_category, sum(events) AS n
    FROM ${database}.events_per_minute
    WHERE $__timeFilter(minute)
    GROUP BY time, environment, error_type, stamped_category
) AS rollup
ANY LEFT JOIN `+currentCatalog+` USING error_type
WHERE $__conditionalAll(has(`+categoryValues+`, `+currentCategory+`), $category)
GROUP BY time, environment
ORDER BY time`)))
}

// --- Error type ---

func errorType() *dashboard.DashboardBuilder {
	return base(ErrorTypeUID, "faultline / Error type",
		"One error type: its rate against the spike baseline and threshold, its catalog entry and remediation, and the organizations it hits.").
		// Only values the query returns (faultline's own label values, ^[a-z0-9_]+$), never
		// one typed into the URL: they go into PromQL matchers.
		WithVariable(dashboard.NewQueryVariableBuilder("error_type").Label("Error type").AllowCustomValue(false).
			Datasource(promDS).
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(faultline_events_total, error_type)")}).
			Definition("label_values(faultline_events_total, error_type)").
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
			Current(dashboard.VariableOption{Text: dashboard.StringOrArrayOfString{String: cog.ToPtr("billing_not_verified")},
				Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("billing_not_verified")}})).
		WithPanel(series(1, "Rate vs baseline", "5m rate against the baseline (max of the previous hour and the same 5 minutes of the day averaged over the previous 7 days) and the spike threshold max(factor x baseline, floor) from the catalog policy.", "reqps", 16, 9,
			prom("A", alerting.RecEventsRate5m+`{error_type="$error_type"}`, "rate 5m"),
			prom("B", alerting.RecEventsBaseline+`{error_type="$error_type"}`, "baseline"),
			prom("C", alerting.RecSpikeThreshold+`{error_type="$error_type"}`, "spike threshold"))).
		WithPanel(statPanel(2, "Rate / spike threshold", "Above 1 the type is spiking (its alert goes pending).", "none", 8, 9,
			promInstant("A", alerting.RecEventsRate5m+`{error_type="$error_type"} / `+alerting.RecSpikeThreshold+`{error_type="$error_type"}`, "ratio"))).
		WithPanel(tablePanel(3, "Catalog entry and remediation", "The catalog row the ingester wrote to ClickHouse (newest version of the type).", 24, 6,
			chTable(`SELECT error_type, status_code, category, actor, remediation, description, error_url, source, catalog_version
FROM ${database}.catalog FINAL
WHERE error_type = decodeURLComponent('${error_type:percentencode}')`))).
		WithPanel(series(4, "Errors/s by environment", "Rate of this type by environment.", "reqps", 12, 8,
			prom("A", `sum by (environment) (rate(faultline_events_total{error_type="$error_type"}[$__rate_interval]))`, "{{environment}}"))).
		WithPanel(series(5, "Events per interval (ClickHouse)", "Stored events of this type per time bucket.", "short", 12, 8,
			chSeries(`SELECT toDateTime(intDiv(toUInt32(minute), $__interval_s) * $__interval_s) AS time, sum(events) AS events
FROM ${database}.events_per_minute
WHERE $__timeFilter(minute) AND error_type = decodeURLComponent('${error_type:percentencode}')
GROUP BY time
ORDER BY time`))).
		WithPanel(tablePanel(6, "Most affected organizations", "Organizations with the most events of this type in the time range.", 12, 10,
			chTable(`SELECT organization_id, count() AS events, uniq(project_id) AS projects,
    countIf(environment = 'live') AS live_events, min(event_time) AS first_seen, max(event_time) AS last_seen
FROM ${database}.events
WHERE $__timeFilter(event_time) AND error_type = decodeURLComponent('${error_type:percentencode}')
GROUP BY organization_id
ORDER BY events DESC
LIMIT 20`))).
		WithPanel(tablePanel(7, "Latest events", "The newest events of this type.", 12, 10,
			chTable(`SELECT event_time, environment, organization_id, project_id, method, path, request_id
FROM ${database}.events
WHERE $__timeFilter(event_time) AND error_type = decodeURLComponent('${error_type:percentencode}')
ORDER BY event_time DESC
LIMIT 50`)))
}

// --- Pipeline ---

func pipeline() *dashboard.DashboardBuilder {
	return base(PipelineUID, "faultline / Pipeline",
		"The ingester: consumed, stored and quarantined rates, lag, batches, inserts, commits and memory.").
		WithPanel(series(1, "Consumed, stored, quarantined /s", "Messages read from Kafka and rows written to the events and quarantine tables.", "reqps", 12, 8,
			prom("A", `sum(`+alerting.RecConsumed+`)`, "consumed"),
			prom("B", alerting.RecStored, "stored {{table}}"))).
		WithPanel(series(2, "Quarantined /s by reason", "Rejected messages by reason.", "reqps", 12, 8,
			prom("A", alerting.RecRejected, "{{reason}}"))).
		WithPanel(series(3, "Consumer lag (messages)", "Messages between the last one read and the end of owned partitions.", "short", 12, 8,
			prom("A", alerting.RecLagMessages, "{{topic}}"),
			prom("B", `faultline_consumer_lag_messages`, "{{topic}}/{{partition}}"))).
		WithPanel(series(4, "Consumer lag (seconds)", "Age of the last message read while a partition has lag; the lag alert fires above 300 s.", "s", 12, 8,
			prom("A", alerting.RecLagSeconds, "{{topic}}"))).
		WithPanel(series(5, "Batch rows (p50, p99)", "Rows per insert by table.", "short", 8, 8,
			prom("A", `histogram_quantile(0.5, sum by (table, le) (rate(faultline_batch_rows_bucket[$__rate_interval])))`, "p50 {{table}}"),
			prom("B", `histogram_quantile(0.99, sum by (table, le) (rate(faultline_batch_rows_bucket[$__rate_interval])))`, "p99 {{table}}"))).
		WithPanel(series(6, "Batch bytes (p50)", "Message bytes per insert by table.", "bytes", 8, 8,
			prom("A", `histogram_quantile(0.5, sum by (table, le) (rate(faultline_batch_bytes_bucket[$__rate_interval])))`, "p50 {{table}}"))).
		WithPanel(series(7, "Flushes /s by trigger", "What made batches flush: rows, bytes, age, revoke, shutdown, drain.", "ops", 8, 8,
			prom("A", `sum by (trigger) (rate(faultline_flushes_total[$__rate_interval]))`, "{{trigger}}"))).
		WithPanel(series(8, "Insert latency p99", "Successful inserts into ClickHouse.", "s", 8, 8,
			prom("A", alerting.RecInsertP99, "p99 {{table}}"),
			prom("B", `histogram_quantile(0.5, sum by (table, le) (rate(faultline_insert_duration_seconds_bucket[$__rate_interval])))`, "p50 {{table}}"))).
		WithPanel(series(9, "Insert errors /s by class", "Failed insert attempts: retryable (retried), data (row isolated to quarantine), fatal.", "ops", 8, 8,
			prom("A", `sum by (table, class) (rate(faultline_insert_errors_total[$__rate_interval]))`, "{{table}} {{class}}"),
			prom("B", alerting.RecInsertErrorRatio, "failed share {{table}}"))).
		WithPanel(series(10, "Event to stored p99", "Time from an event's own timestamp to its row being stored.", "s", 8, 8,
			prom("A", `histogram_quantile(0.99, sum by (le) (rate(faultline_event_to_stored_seconds_bucket[$__rate_interval])))`, "p99"))).
		WithPanel(series(11, "Commits /s", "Offset commits to Kafka by result.", "ops", 8, 8,
			prom("A", `sum by (result) (rate(faultline_commits_total[$__rate_interval]))`, "{{result}}"))).
		WithPanel(series(12, "Memory", "Bytes held between fetch and insert against their bound, and the ingester process's memory.", "bytes", 8, 8,
			prom("A", `faultline_inflight_bytes`, "inflight {{instance}}"),
			prom("B", `faultline_inflight_bytes_limit`, "inflight limit {{instance}}"),
			prom("C", `process_resident_memory_bytes and on (instance, job) faultline_build_info`, "RSS {{instance}}"),
			prom("D", `go_memstats_heap_inuse_bytes and on (instance, job) faultline_build_info`, "heap in use {{instance}}"))).
		WithPanel(series(13, "Rows stored per interval (ClickHouse)", "Rows of events by the time they were stored, as ClickHouse sees them.", "short", 12, 8,
			chSeries(`SELECT toDateTime(intDiv(toUInt32(ingested_at), $__interval_s) * $__interval_s) AS time, count() AS rows
FROM ${database}.events
WHERE $__timeFilter(ingested_at)
GROUP BY time
ORDER BY time`))).
		WithPanel(tablePanel(14, "Delay and volume by partition (ClickHouse)", "Per Kafka partition: rows, newest offset stored, and the delay from Kafka to ClickHouse.", 12, 8,
			chTable(`SELECT kafka_topic, kafka_partition, count() AS rows, max(kafka_offset) AS max_offset,
    avg(toInt64(ingested_at) - toInt64(kafka_time)) AS avg_delay_s
FROM ${database}.events
WHERE $__timeFilter(ingested_at)
GROUP BY kafka_topic, kafka_partition
ORDER BY kafka_topic, kafka_partition`)))
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}
