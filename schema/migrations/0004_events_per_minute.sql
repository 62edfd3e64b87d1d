-- Per-minute counts for dashboards over long ranges, kept by a materialized view on inserts
-- into events. Summing merges fold rows of the same key; readers still sum(events).
CREATE TABLE IF NOT EXISTS ${db}.events_per_minute (
    minute           DateTime,
    error_type       LowCardinality(String),
    category         LowCardinality(String),
    environment      LowCardinality(String),
    status_code      UInt16,
    known            UInt8,
    events           UInt64
) ENGINE = SummingMergeTree(events)
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, error_type, category, environment, status_code, known);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.events_per_minute_mv TO ${db}.events_per_minute AS
SELECT
    toStartOfMinute(event_time) AS minute,
    error_type,
    category,
    environment,
    status_code,
    known,
    count() AS events
FROM ${db}.events
GROUP BY minute, error_type, category, environment, status_code, known;
