-- One row per rejected message, kept whole with why it was rejected: nothing is dropped.
CREATE TABLE IF NOT EXISTS ${db}.quarantine (
    received_at      DateTime,
    reason           LowCardinality(String),
    detail           String,
    payload          String,
    payload_bytes    UInt32,
    kafka_topic      LowCardinality(String),
    kafka_partition  UInt32,
    kafka_offset     UInt64,
    kafka_time       DateTime,
    kafka_key        String,
    insert_id        UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(received_at)
ORDER BY (reason, received_at);
