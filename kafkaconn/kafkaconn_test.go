package kafkaconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	user  = "ingest"
	topic = "secure-events"
)

// secureBroker starts kfake with SASL for user/pass under mech (none when mech is "") and
// TLS with a certificate of ca (none when ca is nil).
func secureBroker(t *testing.T, mech, pass string, ca *testenv.CA) string {
	t.Helper()
	var opts []kfake.Opt
	if mech != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(mech, user, pass))
	}
	if ca != nil {
		opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.Server(t).Cert}}))
	}
	return testenv.Broker(t, topic, 2, opts...).Addr
}

func connector(t *testing.T, cfg config.Kafka) *Connector {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tlsWith(ca *testenv.CA) config.TLS { return config.TLS{Enabled: true, CAFile: ca.CertFile} }

// Every mechanism, with and without TLS: the check passes, and messages written through the
// Transport come back through the Dialer, with the Client's offsets agreeing.
func TestSecuredRoundTrip(t *testing.T) {
	ca := testenv.NewCA(t)
	cases := []struct {
		mech  string
		tls   bool
		wants string
	}{
		{config.SASLPlain, true, `SASL PLAIN as "ingest" over TLS`},
		{config.SASLScramSHA256, true, `SASL SCRAM-SHA-256 as "ingest" over TLS`},
		{config.SASLScramSHA512, true, `SASL SCRAM-SHA-512 as "ingest" over TLS`},
		{config.SASLScramSHA512, false, `SASL SCRAM-SHA-512 as "ingest" over plaintext`},
		{"", true, "TLS"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/tls=%v", tc.mech, tc.tls), func(t *testing.T) {
			pass := "pw-" + tc.mech
			var brokerCA *testenv.CA
			cfg := config.Kafka{SASL: config.SASL{Mechanism: tc.mech, Username: user, Password: pass}}
			if tc.mech == "" {
				cfg.SASL = config.SASL{}
			}
			if tc.tls {
				brokerCA, cfg.TLS = ca, tlsWith(ca)
			}
			cfg.Brokers = []string{secureBroker(t, tc.mech, pass, brokerCA)}
			c := connector(t, cfg)
			if got := c.Security(); got != tc.wants {
				t.Errorf("Security() = %q, want %q", got, tc.wants)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.Check(ctx); err != nil {
				t.Fatalf("check: %v", err)
			}

			w := &kafka.Writer{Addr: kafka.TCP(c.Brokers()...), Topic: topic, Transport: c.Transport(),
				Balancer: &kafka.RoundRobin{}, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireOne}
			var msgs []kafka.Message
			for i := 0; i < 20; i++ {
				msgs = append(msgs, kafka.Message{Value: []byte("m" + strconv.Itoa(i))})
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("write through the Transport: %v", err)
			}
			w.Close()

			resp, err := c.Client(10*time.Second).ListOffsets(ctx, &kafka.ListOffsetsRequest{
				Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1)}}})
			if err != nil {
				t.Fatalf("list offsets through the Client: %v", err)
			}
			var total int64
			for _, p := range resp.Topics[topic] {
				if p.Error != nil {
					t.Fatalf("partition %d: %v", p.Partition, p.Error)
				}
				total += p.LastOffset
			}
			if total != 20 {
				t.Fatalf("end offsets add up to %d, want 20", total)
			}

			r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers(), Topic: topic, Partition: 0, Dialer: c.Dialer(), MaxWait: 100 * time.Millisecond})
			defer r.Close()
			for i := 0; i < 10; i++ {
				if _, err := r.FetchMessage(ctx); err != nil {
					t.Fatalf("read message %d through the Dialer: %v", i, err)
				}
			}
		})
	}
}

// What an operator gets wrong, each answered by Check with the broker, the way it tried to
// connect and what to fix; never a bare EOF.
func TestCheckSaysWhatFailed(t *testing.T) {
	ca, otherCA := testenv.NewCA(t), testenv.NewCA(t)
	secured := secureBroker(t, config.SASLScramSHA512, "right", ca)
	plainBroker := secureBroker(t, "", "", nil)
	saslOnly := secureBroker(t, config.SASLScramSHA512, "right", nil)
	unused := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	scram := func(pass string) config.SASL {
		return config.SASL{Mechanism: config.SASLScramSHA512, Username: user, Password: pass}
	}
	cases := []struct {
		name   string
		cfg    config.Kafka
		broker string
		want   []string
	}{
		{"wrong password", config.Kafka{SASL: scram("wrong"), TLS: tlsWith(ca)}, secured,
			[]string{"SCRAM-SHA-512 authentication failed", `user "ingest"`, "FAULTLINE_KAFKA_SASL_PASSWORD"}},
		{"wrong mechanism", config.Kafka{SASL: config.SASL{Mechanism: config.SASLPlain, Username: user, Password: "right"}, TLS: tlsWith(ca)}, secured,
			[]string{"SASL PLAIN authentication failed", "kafka.sasl.mechanism"}},
		{"wrong scram variant", config.Kafka{SASL: config.SASL{Mechanism: config.SASLScramSHA256, Username: user, Password: "right"}, TLS: tlsWith(ca)}, secured,
			[]string{"SASL SCRAM-SHA-256 authentication failed"}},
		{"missing TLS", config.Kafka{SASL: scram("right")}, secured,
			[]string{"over plaintext", "wants TLS (kafka.tls.enabled)"}},
		{"missing TLS and SASL", config.Kafka{}, secured,
			[]string{"(plaintext)", "kafka.tls.enabled", "kafka.sasl.mechanism"}},
		{"wrong CA", config.Kafka{SASL: scram("right"), TLS: tlsWith(otherCA)}, secured,
			[]string{"TLS failed", "not signed by a CA in kafka.tls.ca_file"}},
		{"system roots only", config.Kafka{SASL: scram("right"), TLS: config.TLS{Enabled: true}}, secured,
			[]string{"TLS failed", "system roots"}},
		{"wrong server name", config.Kafka{SASL: scram("right"), TLS: config.TLS{Enabled: true, CAFile: ca.CertFile, ServerName: "kafka.example"}}, secured,
			[]string{"TLS failed", "kafka.tls.server_name"}},
		{"missing SASL", config.Kafka{TLS: tlsWith(ca)}, secured,
			[]string{"(TLS)", "wants SASL (kafka.sasl.mechanism)"}},
		{"TLS to a plaintext listener", config.Kafka{TLS: tlsWith(ca)}, plainBroker,
			[]string{"did not answer the TLS handshake", "does not speak TLS"}},
		{"wrong password without TLS", config.Kafka{SASL: scram("wrong")}, saslOnly,
			[]string{"SCRAM-SHA-512 authentication failed"}},
		{"nothing listening", config.Kafka{}, unused,
			[]string{"unreachable", "kafka.brokers"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Brokers = []string{tc.broker}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := connector(t, tc.cfg).Check(ctx)
			if err == nil {
				t.Fatal("check passed, want an error")
			}
			msg := err.Error()
			t.Log(msg)
			for _, want := range append([]string{"kafka broker " + tc.broker}, tc.want...) {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if got, want := Unreachable(err), tc.name == "nothing listening"; got != want {
				t.Errorf("Unreachable = %v, want %v", got, want)
			}
			if strings.Contains(msg, "right") || strings.Contains(msg, "wrong\"") {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}

// A bootstrap list may hold a broker that is down; one that answers is enough.
func TestCheckPassesWhenOneBootstrapBrokerAnswers(t *testing.T) {
	up := secureBroker(t, "", "", nil)
	down := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := connector(t, config.Kafka{Brokers: []string{down, up}}).Check(ctx); err != nil {
		t.Fatalf("check: %v", err)
	}
	down2 := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	err := connector(t, config.Kafka{Brokers: []string{down, down2}}).Check(ctx)
	if err == nil || !strings.Contains(err.Error(), down) || !strings.Contains(err.Error(), down2) || !Unreachable(err) {
		t.Fatalf("error %v does not name both brokers as unreachable", err)
	}
}

// Mutual TLS: a broker that wants a client certificate takes kafka.tls.cert_file/key_file,
// and refuses a client without one with an error that points at those keys.
func TestMutualTLS(t *testing.T) {
	ca := testenv.NewCA(t)
	broker := testenv.Broker(t, topic, 1, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.Server(t).Cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool})).Addr
	client := ca.Client(t, "faultline-ingest")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	withCert := config.Kafka{Brokers: []string{broker},
		TLS: config.TLS{Enabled: true, CAFile: ca.CertFile, CertFile: client.CertFile, KeyFile: client.KeyFile}}
	if err := connector(t, withCert).Check(ctx); err != nil {
		t.Fatalf("check with a client certificate: %v", err)
	}
	err := connector(t, config.Kafka{Brokers: []string{broker}, TLS: tlsWith(ca)}).Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "kafka broker "+broker) || !strings.Contains(err.Error(), "kafka.tls.cert_file") {
		t.Fatalf("without a client certificate: %v", err)
	}
	t.Log(err)
}
