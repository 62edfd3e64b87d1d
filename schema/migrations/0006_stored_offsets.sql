-- What is stored, by Kafka coordinates, sorted by them: the skip read at partition assignment
-- is a primary-key range read here instead of a scan of events and quarantine (sorted by
-- error type and time). Kept by materialized views in the same inserts; the views come first
-- so that rows inserted while the backfill runs are not missed (a row counted twice is
-- harmless: the reader dedups by offset and fingerprint). Partitioned by day of storing, so
-- retention drops its partitions with those of events and quarantine.
CREATE TABLE IF NOT EXISTS ${db}.stored_offsets (
    kafka_topic      LowCardinality(String),
    kafka_partition  UInt32,
    kafka_offset     UInt64,
    fingerprint      UInt64,
    stored_at        DateTime
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(stored_at)
ORDER BY (kafka_topic, kafka_partition, kafka_offset);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.events_offsets_mv TO ${db}.stored_offsets AS
SELECT kafka_topic, kafka_partition, kafka_offset, fingerprint, ingested_at AS stored_at
FROM ${db}.events;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.quarantine_offsets_mv TO ${db}.stored_offsets AS
SELECT kafka_topic, kafka_partition, kafka_offset, fingerprint, received_at AS stored_at
FROM ${db}.quarantine;

INSERT INTO ${db}.stored_offsets
SELECT kafka_topic, kafka_partition, kafka_offset, fingerprint, ingested_at FROM ${db}.events;

INSERT INTO ${db}.stored_offsets
SELECT kafka_topic, kafka_partition, kafka_offset, fingerprint, received_at FROM ${db}.quarantine;
