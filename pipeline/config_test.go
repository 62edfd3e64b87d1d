package pipeline

import (
	"strings"
	"testing"
	"time"
)

func TestConfigCheckNamesTheField(t *testing.T) {
	valid := func() Config {
		return Config{
			Kafka: KafkaConfig{Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"t"}, Group: "g", RebalanceTimeout: time.Second},
			Batch: BatchConfig{MaxRows: 1, MaxBytes: 1, MaxAge: time.Second, MaxInflightBytes: 1, Inserts: 1},
			Writer: WriterConfig{Database: "d", InsertTimeout: time.Second,
				Retry: RetryConfig{InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, FatalBackoff: time.Second}},
			ShutdownTimeout: time.Second,
		}
	}
	if err := valid().check(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		field string
		spoil func(*Config)
	}{
		{"Kafka.Brokers", func(c *Config) { c.Kafka.Brokers = nil }},
		{"Kafka.Topics", func(c *Config) { c.Kafka.Topics = nil }},
		{"Kafka.Group", func(c *Config) { c.Kafka.Group = "" }},
		{"Kafka.RebalanceTimeout", func(c *Config) { c.Kafka.RebalanceTimeout = 0 }},
		{"Batch.MaxRows", func(c *Config) { c.Batch.MaxRows = 0 }},
		{"Batch.MaxBytes", func(c *Config) { c.Batch.MaxBytes = -1 }},
		{"Batch.MaxAge", func(c *Config) { c.Batch.MaxAge = 0 }},
		{"Batch.MaxInflightBytes", func(c *Config) { c.Batch.MaxInflightBytes = 0 }},
		{"Batch.Inserts", func(c *Config) { c.Batch.Inserts = 0 }},
		{"Writer.InsertTimeout", func(c *Config) { c.Writer.InsertTimeout = 0 }},
		{"Writer.Retry.InitialBackoff", func(c *Config) { c.Writer.Retry.InitialBackoff = 0 }},
		{"Writer.Retry.MaxBackoff", func(c *Config) { c.Writer.Retry.MaxBackoff = time.Microsecond }},
		{"Writer.Retry.FatalBackoff", func(c *Config) { c.Writer.Retry.FatalBackoff = 0 }},
		{"ShutdownTimeout", func(c *Config) { c.ShutdownTimeout = 0 }},
	} {
		c := valid()
		tc.spoil(&c)
		err := c.check()
		if err == nil || !strings.Contains(err.Error(), " "+tc.field+" ") {
			t.Errorf("%s spoiled: got %v, want an error naming it", tc.field, err)
		}
	}
}
