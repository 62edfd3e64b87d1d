package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
)

// secretKeys may only come from their environment variable or their _file key: a config file
// is read by too many people and tools to hold a password.
var secretKeys = []string{"clickhouse.password", "kafka.sasl.password", "query.password"}

// SASL mechanisms faultline's Kafka client speaks.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// TLS is a client's TLS settings (sections kafka.tls and clickhouse.tls). Load has already
// checked that the files it names can be read and parsed.
type TLS struct {
	Enabled            bool
	CAFile             string // PEM CA bundle; empty: the system roots
	CertFile, KeyFile  string // PEM client certificate and key, for mutual TLS; both or neither
	ServerName         string // name checked in the server's certificate; empty: the dialed host
	InsecureSkipVerify bool   // no check of the server's certificate at all; only by this explicit key
}

// ClientConfig builds the crypto/tls client configuration, or nil when TLS is disabled.
func (t TLS) ClientConfig() (*tls.Config, error) {
	cfg, field, err := t.clientConfig()
	if err != nil {
		return nil, fmt.Errorf("tls.%s: %w", field, err)
	}
	return cfg, nil
}

// clientConfig also says which field an error is about, so Load can name the key.
func (t TLS) clientConfig() (*tls.Config, string, error) {
	if !t.Enabled {
		return nil, "", nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, "ca_file", err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "ca_file", fmt.Errorf("%s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, "cert_file", fmt.Errorf("cert_file and key_file go together (cert_file %q, key_file %q)", t.CertFile, t.KeyFile)
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, "cert_file", fmt.Errorf("client certificate %s with key %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, "", nil
}

// secret reads key from its environment variable, else from the file named by key_file
// (trailing newlines dropped, as editors and kubectl leave them).
func (r *reader) secret(key string) string {
	if s := os.Getenv(EnvName(key)); s != "" {
		return s
	}
	pf := r.str(key + "_file")
	if pf == "" {
		return ""
	}
	b, err := os.ReadFile(pf)
	if err != nil {
		r.fail(key+"_file", "%v", err)
		return ""
	}
	return strings.TrimRight(string(b), "\r\n")
}

// tlsSection reads section (kafka.tls or clickhouse.tls) and checks its files now, so a bad CA or key
// stops start-up naming the key instead of failing at the first connection.
func (r *reader) tlsSection(section string) TLS {
	t := TLS{
		Enabled:            r.boolean(section + ".enabled"),
		CAFile:             r.str(section + ".ca_file"),
		CertFile:           r.str(section + ".cert_file"),
		KeyFile:            r.str(section + ".key_file"),
		ServerName:         r.str(section + ".server_name"),
		InsecureSkipVerify: r.boolean(section + ".insecure_skip_verify"),
	}
	if !t.Enabled {
		// A TLS setting without TLS is a mistake that would silently connect in plaintext.
		for _, f := range []struct {
			key string
			set bool
		}{{"ca_file", t.CAFile != ""}, {"cert_file", t.CertFile != ""}, {"key_file", t.KeyFile != ""},
			{"server_name", t.ServerName != ""}, {"insecure_skip_verify", t.InsecureSkipVerify}} {
			if f.set {
				r.fail(section+"."+f.key, "is set but %s.enabled is false", section)
			}
		}
		return t
	}
	if t.InsecureSkipVerify && t.CAFile != "" {
		r.fail(section+".insecure_skip_verify", "contradicts %s.ca_file: with it no certificate is checked", section)
	}
	if _, field, err := t.clientConfig(); err != nil {
		r.fail(section+"."+field, "%v", err)
	}
	return t
}

// saslSection reads kafka.sasl: a mechanism needs a username and a password, and a username or
// password without a mechanism would silently not be used.
func (r *reader) saslSection(section string) SASL {
	s := SASL{Username: r.str(section + ".username"), Password: r.secret(section + ".password")}
	switch m := strings.ToUpper(r.str(section + ".mechanism")); m {
	case "", SASLPlain, SASLScramSHA256, SASLScramSHA512:
		s.Mechanism = m
	default:
		r.fail(section+".mechanism", "%q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (or empty for none)", m)
		return s
	}
	if s.Mechanism == "" {
		if s.Username != "" {
			r.fail(section+".username", "is set but %s.mechanism is empty", section)
		}
		if s.Password != "" {
			r.fail(section+".password_file", "a password is set (%s or %s.password_file) but %s.mechanism is empty", EnvName(section+".password"), section, section)
		}
		return s
	}
	if s.Username == "" {
		r.fail(section+".username", "must be set with %s.mechanism %s", section, s.Mechanism)
	}
	if s.Password == "" {
		r.fail(section+".password_file", "no password for %s.mechanism %s: set %s or %s.password_file", section, s.Mechanism, EnvName(section+".password"), section)
	}
	return s
}
