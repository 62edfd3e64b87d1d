package kafkaconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/segmentio/kafka-go"
)

// CheckError is what Check returns: the broker, how faultline tried to connect, what went
// wrong in words that point at the config key to fix, and the underlying error.
type CheckError struct {
	Broker   string
	Security string // Connector.Security
	Problem  string
	Err      error

	unreachable bool
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("kafka broker %s (%s): %s: %v", e.Broker, e.Security, e.Problem, e.Err)
}

func (e *CheckError) Unwrap() error { return e.Err }

// Unreachable reports whether err from Check means only that no broker could be reached (as
// opposed to a broker refusing faultline's TLS or credentials). A consumer group rides out a
// broker outage, so a caller may start anyway and let kafka-go keep dialing.
func Unreachable(err error) bool {
	var ce *CheckError
	return errors.As(err, &ce) && ce.unreachable
}

// passwordKeys is where the SASL password comes from, for the hint.
const passwordKeys = "FAULTLINE_KAFKA_SASL_PASSWORD or kafka.sasl.password_file"

// explain turns what kafka-go returned for one broker into a CheckError.
func (c *Connector) explain(broker string, err error) *CheckError {
	e := &CheckError{Broker: broker, Security: c.Security(), Err: err}
	var (
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalidCert x509.CertificateInvalidError
		recordHdr   tls.RecordHeaderError
		alert       tls.AlertError
		certVerify  *tls.CertificateVerificationError
		opErr       *net.OpError
		noAnswer    errNoAnswer
	)
	caSource := "kafka.tls.ca_file"
	if c.tls != nil && c.tls.RootCAs == nil {
		caSource = "the system roots (set kafka.tls.ca_file)"
	}
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		e.Problem = fmt.Sprintf("SASL %s authentication failed for user %q: check kafka.sasl.mechanism, kafka.sasl.username and the password (%s)",
			c.mechanism, c.username, passwordKeys)
	case errors.Is(err, kafka.UnsupportedSASLMechanism):
		e.Problem = fmt.Sprintf("the broker does not offer SASL %s: check kafka.sasl.mechanism", c.mechanism)
	case errors.As(err, &unknownCA):
		e.Problem = "TLS failed: the broker's certificate is not signed by a CA in " + caSource
	case errors.As(err, &hostname):
		e.Problem = "TLS failed: the broker's certificate does not name this host: set kafka.tls.server_name to a name it holds or dial that name"
	case errors.As(err, &invalidCert):
		e.Problem = "TLS failed: the broker's certificate is not valid (expired, not yet valid, or not for servers)"
	case errors.As(err, &certVerify):
		e.Problem = "TLS failed: the broker's certificate could not be verified against " + caSource
	case errors.As(err, &recordHdr):
		e.Problem = "TLS failed: the broker answered in plaintext; this listener does not speak TLS (unset kafka.tls.enabled or use the broker's TLS port)"
	case errors.As(err, &alert), errors.As(err, &opErr) && opErr.Op == "remote error":
		e.Problem = "TLS failed: the broker refused the handshake (does it want a client certificate? kafka.tls.cert_file, kafka.tls.key_file)"
	case c.tls != nil && strings.Contains(err.Error(), "tls:"):
		e.Problem = "TLS failed"
	case closedByPeer(err) && c.tls == nil && c.mechanism == "":
		e.Problem = "the broker closed the connection at the first request: it likely wants TLS (kafka.tls.enabled) or SASL (kafka.sasl.mechanism)"
	case closedByPeer(err) && c.tls == nil:
		e.Problem = "the broker closed the connection during the SASL handshake: it likely wants TLS (kafka.tls.enabled)"
	case closedByPeer(err) && c.mechanism == "":
		e.Problem = "the broker closed the connection at the first request after TLS: it likely wants SASL (kafka.sasl.mechanism)"
	case closedByPeer(err):
		e.Problem = fmt.Sprintf("the broker closed the connection after TLS and SASL %s as %q: check the credentials (%s) and the user's permissions",
			c.mechanism, c.username, passwordKeys)
	case errors.As(err, &noAnswer) && c.tls != nil:
		e.Problem = "the broker took the connection but did not answer the TLS handshake: this listener likely does not speak TLS (unset kafka.tls.enabled or use the broker's TLS port)"
	case errors.As(err, &noAnswer):
		e.Problem = "the broker took the connection but did not answer"
	case errors.As(err, &opErr) && opErr.Op == "dial", errors.Is(err, syscall.ECONNREFUSED):
		e.Problem = "unreachable (check kafka.brokers)"
		e.unreachable = true
	default:
		e.Problem = "cannot connect"
		e.unreachable = true
	}
	return e
}

// closedByPeer is a connection the broker ended: how brokers answer what they will not serve.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
