package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/kafkaconn"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func runLoadgen(t *testing.T, args ...string) error {
	t.Helper()
	cmd := newCommand(slog.New(slog.NewTextHandler(io.Discard, nil)))
	cmd.SetArgs(append([]string{"--catalog", filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json")}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return cmd.ExecuteContext(ctx)
}

// loadgen takes kafka.* from the config and environment like the ingester, SASL and TLS
// included: it creates its topic and delivers every message to a secured broker, and a wrong
// password is reported with the broker instead of kafka-go's "unexpected EOF".
func TestProducesToASecuredBroker(t *testing.T) {
	ca := testenv.NewCA(t)
	b := testenv.Broker(t, "", 0, kfake.EnableSASL(), kfake.Superuser(config.SASLScramSHA256, "loadgen", "pw-lg"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.Server(t).Cert}}))
	for k, v := range map[string]string{
		"FAULTLINE_KAFKA_BROKERS":        b.Addr,
		"FAULTLINE_KAFKA_TOPIC":          "secured-load",
		"FAULTLINE_KAFKA_SASL_MECHANISM": config.SASLScramSHA256,
		"FAULTLINE_KAFKA_SASL_USERNAME":  "loadgen",
		"FAULTLINE_KAFKA_SASL_PASSWORD":  "pw-lg",
		"FAULTLINE_KAFKA_TLS_ENABLED":    "true",
		"FAULTLINE_KAFKA_TLS_CA_FILE":    ca.CertFile,
	} {
		t.Setenv(k, v)
	}
	if err := runLoadgen(t, "--count", "300", "--partitions", "3"); err != nil {
		t.Fatalf("loadgen: %v", err)
	}
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kafkaconn.New(cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := kc.Client(10*time.Second).ListOffsets(context.Background(), &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{"secured-load": {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1), kafka.LastOffsetOf(2)}}})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, p := range resp.Topics["secured-load"] {
		if p.Error != nil {
			t.Fatalf("partition %d: %v", p.Partition, p.Error)
		}
		total += p.LastOffset
	}
	if total != 300 {
		t.Fatalf("%d messages in the topic, want 300", total)
	}

	t.Setenv("FAULTLINE_KAFKA_SASL_PASSWORD", "wrong")
	err = runLoadgen(t, "--count", "10")
	if err == nil || !strings.Contains(err.Error(), "kafka broker "+b.Addr) || !strings.Contains(err.Error(), "SCRAM-SHA-256 authentication failed") {
		t.Fatalf("wrong password: %v", err)
	}
}
