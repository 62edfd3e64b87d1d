package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/kafkaconn"
)

const saslUser = "faultline-ingest"

// secureEnv starts a kfake broker that wants TLS (a certificate of ca) and SASL mech for
// saslUser/pass, and points the ingester at it and at the TLS port of srv, as an operator
// would: passwords from the environment or files, TLS by config keys.
func secureEnv(t *testing.T, ca *testenv.CA, srv *testenv.TLSServer, mech, pass, database string) string {
	t.Helper()
	b := testenv.Broker(t, "api-errors", 3, kfake.EnableSASL(), kfake.Superuser(mech, saslUser, pass),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.Server(t).Cert}}))
	env(t, b.Addr, srv.SecureAddr, database)
	pwFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(pwFile, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"FAULTLINE_KAFKA_SASL_MECHANISM":     mech,
		"FAULTLINE_KAFKA_SASL_USERNAME":      saslUser,
		"FAULTLINE_KAFKA_SASL_PASSWORD_FILE": pwFile,
		"FAULTLINE_KAFKA_TLS_ENABLED":        "true",
		"FAULTLINE_KAFKA_TLS_CA_FILE":        ca.CertFile,
		"FAULTLINE_CLICKHOUSE_TLS_ENABLED":   "true",
		"FAULTLINE_CLICKHOUSE_TLS_CA_FILE":   ca.CertFile,
		"FAULTLINE_CLICKHOUSE_PASSWORD":      srv.WriterPassword,
	} {
		t.Setenv(k, v)
	}
	return b.Addr
}

// produceSecure writes n messages (every tenth malformed) through kafkaconn, as loadgen does.
func produceSecure(t *testing.T, cfg config.Kafka, n int) {
	t.Helper()
	kc, err := kafkaconn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: "api-errors", Transport: kc.Transport(),
		Balancer: &kafka.RoundRobin{}, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireOne}
	defer w.Close()
	var msgs []kafka.Message
	for i := 0; i < n; i++ {
		v := fmt.Sprintf(`{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-%012d","error_type":"billing_not_verified"}`, i)
		if i%10 == 0 {
			v = `not json`
		}
		msgs = append(msgs, kafka.Message{Value: []byte(v)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce over SASL/TLS: %v", err)
	}
}

// The whole ingester over a Kafka with SASL (each mechanism) and TLS, into a ClickHouse with
// TLS and a password: every message is stored or quarantined, as over plaintext.
func TestIngestsOverSASLAndTLS(t *testing.T) {
	ca := testenv.NewCA(t)
	srv := testenv.StartClickHouseTLSServer(t, ca)
	admin := srv.Admin(t)
	for i, mech := range []string{config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			pass := "kafka-pw-" + mech
			db := fmt.Sprintf("secure_%d", i)
			broker := secureEnv(t, ca, srv, mech, pass, db)
			produceSecure(t, config.Kafka{Brokers: []string{broker},
				SASL: config.SASL{Mechanism: mech, Username: saslUser, Password: pass},
				TLS:  config.TLS{Enabled: true, CAFile: ca.CertFile}}, 200)

			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := execute(ctx, &out, "--drain"); err != nil {
				t.Fatalf("ingest --drain over SASL %s and TLS: %v", mech, err)
			}
			for _, want := range []string{"consumed 200", "stored 180", "quarantined 20"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("summary %q lacks %q", out.String(), want)
				}
			}
			if n := testenv.QueryInt(t, admin, "SELECT count() FROM "+db+".events"); n != 180 {
				t.Errorf("%d events stored, want 180", n)
			}
			if n := testenv.QueryInt(t, admin, "SELECT count() FROM "+db+".quarantine"); n != 20 {
				t.Errorf("%d quarantined, want 20", n)
			}
		})
	}
}

// Each security mistake stops start-up with the broker, the mechanism and what failed,
// before anything else is tried.
func TestSecurityMistakesStopStartup(t *testing.T) {
	ca, otherCA := testenv.NewCA(t), testenv.NewCA(t)
	srv := testenv.StartClickHouseTLSServer(t, ca)
	cases := []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"wrong password", map[string]string{"FAULTLINE_KAFKA_SASL_PASSWORD": "not-the-password"},
			[]string{"SCRAM-SHA-512 authentication failed", `"` + saslUser + `"`}},
		{"wrong mechanism", map[string]string{"FAULTLINE_KAFKA_SASL_MECHANISM": "PLAIN"},
			[]string{"SASL PLAIN authentication failed", "kafka.sasl.mechanism"}},
		{"missing TLS", map[string]string{"FAULTLINE_KAFKA_TLS_ENABLED": "false", "FAULTLINE_KAFKA_TLS_CA_FILE": ""},
			[]string{"over plaintext", "kafka.tls.enabled"}},
		{"wrong CA", map[string]string{"FAULTLINE_KAFKA_TLS_CA_FILE": otherCA.CertFile},
			[]string{"TLS failed", "kafka.tls.ca_file"}},
		{"wrong ClickHouse password", map[string]string{"FAULTLINE_CLICKHOUSE_PASSWORD": "not-it"},
			[]string{"clickhouse at " + srv.SecureAddr, "authentication failed", "FAULTLINE_CLICKHOUSE_PASSWORD"}},
		{"wrong ClickHouse CA", map[string]string{"FAULTLINE_CLICKHOUSE_TLS_CA_FILE": otherCA.CertFile},
			[]string{"clickhouse at " + srv.SecureAddr, "clickhouse.tls.ca_file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			broker := secureEnv(t, ca, srv, config.SASLScramSHA512, "right-password", "unused")
			for k, v := range tc.set {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := execute(ctx, io.Discard, "run")
			if err == nil {
				t.Fatal("run started, want a start-up error")
			}
			want := tc.want
			if !strings.HasPrefix(want[0], "clickhouse at") {
				want = append([]string{"kafka broker " + broker}, want...)
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// A broker that cannot be reached at start is not a reason to exit (a running ingester rides
// out the same outage): the ingester serves /healthz, is not ready, and names Kafka.
func TestStartsWhileKafkaIsDown(t *testing.T) {
	ch := testenv.ClickHouse(t)
	down := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	base := env(t, down, ch.Addr, ch.Database)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- execute(ctx, io.Discard, "run") }()
	waitStatus(t, base+"/healthz", http.StatusOK)
	// Until its first check has run, /readyz says "not checked yet"; after it, it must name
	// Kafka, and stay not ready.
	deadline := time.Now().Add(20 * time.Second)
	for {
		body := waitStatus(t, base+"/readyz", http.StatusServiceUnavailable)
		if strings.Contains(body, "kafka") {
			break
		}
		if !strings.Contains(body, "not checked yet") || time.Now().After(deadline) {
			t.Fatalf("/readyz body %q does not name kafka", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ingester did not stop within 30s of cancel")
	}
}
