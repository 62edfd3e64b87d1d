// Package kafkaconn builds every Kafka connection faultline makes from config.Kafka: the
// kafka.Dialer that readers and consumer groups use, the kafka.Transport under kafka.Client
// and kafka.Writer, both with the same SASL mechanism and TLS settings, and a start-up Check.
//
// The check exists because kafka-go reports security failures badly: a Writer or Client over
// a Transport answers a wrong password, a wrong mechanism or a missing TLS with a bare
// "unexpected EOF", and a consumer-group reader with a wrong password blocks until its
// context ends. Check dials each bootstrap broker with the Dialer, which sees the SASL and
// TLS handshakes themselves, and says which broker, which mechanism and what failed.
package kafkaconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/faultline/faultline/config"
)

// clientID is what brokers see in their request logs and quotas.
const clientID = "faultline"

// dialTimeout bounds one connection's TCP, TLS and SASL handshakes.
const dialTimeout = 10 * time.Second

// Connector holds the security settings of one Kafka cluster and hands out connections that
// use them. It is safe for concurrent use; the Transport it holds pools connections, so share
// one Connector per process.
type Connector struct {
	brokers   []string
	mechanism string // "" when SASL is off
	username  string
	tls       *tls.Config
	dialer    *kafka.Dialer
	transport *kafka.Transport
}

// New builds a Connector from cfg (as config.Load checked it).
func New(cfg config.Kafka) (*Connector, error) {
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("kafka: no brokers (key kafka.brokers)")
	}
	tlsCfg, err := cfg.TLS.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kafka.%w", err)
	}
	mech, err := mechanism(cfg.SASL)
	if err != nil {
		return nil, err
	}
	c := &Connector{brokers: cfg.Brokers, mechanism: cfg.SASL.Mechanism, username: cfg.SASL.Username, tls: tlsCfg}
	c.dialer = &kafka.Dialer{ClientID: clientID, Timeout: dialTimeout, DualStack: true, SASLMechanism: mech, TLS: tlsCfg}
	c.transport = &kafka.Transport{ClientID: clientID, DialTimeout: dialTimeout, SASL: mech, TLS: tlsCfg}
	return c, nil
}

func mechanism(s config.SASL) (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "":
		return nil, nil
	case config.SASLPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case config.SASLScramSHA256, config.SASLScramSHA512:
		algo := scram.SHA256
		if s.Mechanism == config.SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl: %s for user %q: %w", s.Mechanism, s.Username, err)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("kafka.sasl.mechanism %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
}

// Brokers are the bootstrap brokers (kafka.brokers).
func (c *Connector) Brokers() []string { return c.brokers }

// Dialer is for kafka.ReaderConfig.Dialer and kafka.ConsumerGroupConfig.Dialer.
func (c *Connector) Dialer() *kafka.Dialer { return c.dialer }

// Transport is for kafka.Client.Transport and kafka.Writer.Transport.
func (c *Connector) Transport() *kafka.Transport { return c.transport }

// Client is an admin client (metadata, offsets) on the bootstrap brokers; timeout bounds each
// request.
func (c *Connector) Client(timeout time.Duration) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.brokers...), Timeout: timeout, Transport: c.transport}
}

// Security describes how connections authenticate, for logs and errors: "plaintext",
// "TLS", "SASL SCRAM-SHA-512 as \"ingest\" over TLS".
func (c *Connector) Security() string {
	s := "plaintext"
	if c.tls != nil {
		s = "TLS"
		if c.tls.InsecureSkipVerify {
			s = "TLS without certificate checks"
		}
	}
	if c.mechanism == "" {
		return s
	}
	return fmt.Sprintf("SASL %s as %q over %s", c.mechanism, c.username, s)
}

// Check connects to the bootstrap brokers with the Dialer and asks each for the cluster's
// brokers, which needs the TLS and SASL handshakes to have worked. A failed handshake is
// returned at once, naming the broker, the mechanism and what to fix; an unreachable broker
// only when no broker answered (a bootstrap list may hold a broker that is down).
func (c *Connector) Check(ctx context.Context) error {
	var unreachable []error
	for _, b := range c.brokers {
		err := c.checkBroker(ctx, b)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("kafka broker %s: check interrupted: %w", b, ctx.Err())
		}
		e := c.explain(b, err)
		if !e.unreachable {
			return e
		}
		unreachable = append(unreachable, e)
	}
	if len(unreachable) == 1 {
		return unreachable[0]
	}
	return fmt.Errorf("no kafka broker answered: %w", errors.Join(unreachable...))
}

func (c *Connector) checkBroker(ctx context.Context, broker string) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	// TCP first, so that a broker that cannot be reached is told apart from one that takes the
	// connection but never answers the TLS handshake (a plaintext listener waiting for a
	// request).
	tcp, err := (&net.Dialer{}).DialContext(ctx, "tcp", broker)
	if err != nil {
		return err
	}
	tcp.Close()
	conn, err := c.dialer.DialContext(ctx, "tcp", broker)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		return errNoAnswer{err}
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Metadata, not ApiVersions: brokers answer ApiVersions before authentication, so only a
	// request that needs it shows a listener that wants SASL from a client that sends none.
	_, err = conn.Brokers()
	return err
}

// errNoAnswer is a broker that took the TCP connection but did not finish the handshakes in
// time.
type errNoAnswer struct{ err error }

func (e errNoAnswer) Error() string {
	return "no answer within " + dialTimeout.String() + ": " + e.err.Error()
}
func (e errNoAnswer) Unwrap() error { return e.err }
