-- The catalog as SQL and Grafana see it, to join remediation onto events. Every ingester start
-- writes the catalog it runs with; the newest write of an error type wins (read with FINAL).
CREATE TABLE IF NOT EXISTS ${db}.catalog (
    error_type       String,
    status_code      UInt16,
    category         LowCardinality(String),
    actor            LowCardinality(String),
    description      String,
    error_message    String,
    error_url        String,
    remediation      String,
    common_causes    Array(String),
    troubleshooting  Array(String),
    source           LowCardinality(String),
    catalog_version  String,
    updated_at       DateTime
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY error_type;
