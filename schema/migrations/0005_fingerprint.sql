-- A fingerprint of each message (xxhash64 of key, value and record timestamp) next to its
-- Kafka coordinates: offsets are not identities (a recreated topic, or another cluster with
-- the same topic names, starts again at 0), so a message is taken as already stored only when
-- the row at its offset has the same fingerprint. 0 marks rows stored before this column.
ALTER TABLE ${db}.events ADD COLUMN fingerprint UInt64 DEFAULT 0;
ALTER TABLE ${db}.quarantine ADD COLUMN fingerprint UInt64 DEFAULT 0;
