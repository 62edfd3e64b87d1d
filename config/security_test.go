package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePEM makes a self-signed certificate and its key in dir and returns their paths.
func writePEM(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSecurityDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.SASL != (SASL{}) || c.Kafka.TLS != (TLS{}) || c.ClickHouse.TLS != (TLS{}) {
		t.Fatalf("security is on by default: %+v %+v %+v", c.Kafka.SASL, c.Kafka.TLS, c.ClickHouse.TLS)
	}
	if c.Query.Username != "faultline_ro" || c.Query.Password != "" {
		t.Fatalf("query user = %q / %q, want faultline_ro without password", c.Query.Username, c.Query.Password)
	}
	if cfg, err := c.Kafka.TLS.ClientConfig(); cfg != nil || err != nil {
		t.Fatalf("disabled TLS gave %v, %v", cfg, err)
	}
}

func TestSecurityFromEnvAndFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePEM(t, dir)
	pw := writeFile(t, filepath.Join(dir, "kafka-pw"), "kafka-secret\n")
	qpw := writeFile(t, filepath.Join(dir, "query-pw"), "ro-secret\r\n")
	for k, v := range map[string]string{
		"FAULTLINE_KAFKA_SASL_MECHANISM":                "scram-sha-512",
		"FAULTLINE_KAFKA_SASL_USERNAME":                 "ingest",
		"FAULTLINE_KAFKA_SASL_PASSWORD_FILE":            pw,
		"FAULTLINE_KAFKA_TLS_ENABLED":                   "true",
		"FAULTLINE_KAFKA_TLS_CA_FILE":                   cert,
		"FAULTLINE_KAFKA_TLS_CERT_FILE":                 cert,
		"FAULTLINE_KAFKA_TLS_KEY_FILE":                  key,
		"FAULTLINE_KAFKA_TLS_SERVER_NAME":               "kafka.internal",
		"FAULTLINE_CLICKHOUSE_TLS_ENABLED":              "true",
		"FAULTLINE_CLICKHOUSE_TLS_INSECURE_SKIP_VERIFY": "true",
		"FAULTLINE_QUERY_USERNAME":                      "oncall",
		"FAULTLINE_QUERY_PASSWORD_FILE":                 qpw,
	} {
		t.Setenv(k, v)
	}
	c, err := Load(repoConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := (SASL{Mechanism: SASLScramSHA512, Username: "ingest", Password: "kafka-secret"}); c.Kafka.SASL != want {
		t.Errorf("sasl = %+v, want %+v", c.Kafka.SASL, want)
	}
	if c.Query.Username != "oncall" || c.Query.Password != "ro-secret" {
		t.Errorf("query user = %q / %q", c.Query.Username, c.Query.Password)
	}
	kt, err := c.Kafka.TLS.ClientConfig()
	if err != nil || kt.RootCAs == nil || len(kt.Certificates) != 1 || kt.ServerName != "kafka.internal" || kt.InsecureSkipVerify {
		t.Errorf("kafka tls = %+v, %v", kt, err)
	}
	ct, err := c.ClickHouse.TLS.ClientConfig()
	if err != nil || !ct.InsecureSkipVerify || ct.RootCAs != nil {
		t.Errorf("clickhouse tls = %+v, %v", ct, err)
	}

	// The environment variable wins over the file, as for clickhouse.password.
	t.Setenv("FAULTLINE_KAFKA_SASL_PASSWORD", "from-env")
	if c, err = Load(""); err != nil || c.Kafka.SASL.Password != "from-env" {
		t.Fatalf("password from env: %+v, %v", c, err)
	}
}

func TestBadSecurityValuesNameTheirKey(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePEM(t, dir)
	notPEM := writeFile(t, filepath.Join(dir, "not.pem"), "hello\n")
	missing := filepath.Join(dir, "missing.pem")
	sasl := map[string]string{"FAULTLINE_KAFKA_SASL_MECHANISM": "PLAIN", "FAULTLINE_KAFKA_SASL_USERNAME": "u", "FAULTLINE_KAFKA_SASL_PASSWORD": "p"}
	with := func(base map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for bk, bv := range base {
			if bk != k {
				out[bk] = bv
			}
		}
		return out
	}
	tlsOn := map[string]string{"FAULTLINE_KAFKA_TLS_ENABLED": "true"}
	chOn := map[string]string{"FAULTLINE_CLICKHOUSE_TLS_ENABLED": "true"}
	cases := []struct {
		name    string
		env     map[string]string
		wantKey string
	}{
		{"unknown mechanism", with(sasl, "FAULTLINE_KAFKA_SASL_MECHANISM", "GSSAPI"), "kafka.sasl.mechanism"},
		{"mechanism without user", with(sasl, "FAULTLINE_KAFKA_SASL_USERNAME", ""), "kafka.sasl.username"},
		{"mechanism without password", with(sasl, "FAULTLINE_KAFKA_SASL_PASSWORD", ""), "kafka.sasl.password_file"},
		{"unreadable password file", with(with(sasl, "FAULTLINE_KAFKA_SASL_PASSWORD", ""), "FAULTLINE_KAFKA_SASL_PASSWORD_FILE", missing), "kafka.sasl.password_file"},
		{"user without mechanism", map[string]string{"FAULTLINE_KAFKA_SASL_USERNAME": "u"}, "kafka.sasl.username"},
		{"password without mechanism", map[string]string{"FAULTLINE_KAFKA_SASL_PASSWORD": "p"}, "kafka.sasl.password_file"},
		{"tls enabled not a bool", map[string]string{"FAULTLINE_KAFKA_TLS_ENABLED": "yes please"}, "kafka.tls.enabled"},
		{"ca without tls", map[string]string{"FAULTLINE_KAFKA_TLS_CA_FILE": cert}, "kafka.tls.ca_file"},
		{"skip verify without tls", map[string]string{"FAULTLINE_CLICKHOUSE_TLS_INSECURE_SKIP_VERIFY": "true"}, "clickhouse.tls.insecure_skip_verify"},
		{"missing ca", with(tlsOn, "FAULTLINE_KAFKA_TLS_CA_FILE", missing), "kafka.tls.ca_file"},
		{"ca not pem", with(chOn, "FAULTLINE_CLICKHOUSE_TLS_CA_FILE", notPEM), "clickhouse.tls.ca_file"},
		{"cert without key", with(chOn, "FAULTLINE_CLICKHOUSE_TLS_CERT_FILE", cert), "clickhouse.tls.cert_file"},
		{"key not matching a cert", with(with(tlsOn, "FAULTLINE_KAFKA_TLS_CERT_FILE", notPEM), "FAULTLINE_KAFKA_TLS_KEY_FILE", key), "kafka.tls.cert_file"},
		{"skip verify with a ca", with(with(chOn, "FAULTLINE_CLICKHOUSE_TLS_CA_FILE", cert), "FAULTLINE_CLICKHOUSE_TLS_INSECURE_SKIP_VERIFY", "true"), "clickhouse.tls.insecure_skip_verify"},
		{"empty query user", map[string]string{"FAULTLINE_QUERY_USERNAME": " "}, "query.username"},
		{"unreadable query password file", map[string]string{"FAULTLINE_QUERY_PASSWORD_FILE": missing}, "query.password_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := Load("")
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), "key "+tc.wantKey+" ") {
				t.Fatalf("error does not name key %s: %v", tc.wantKey, err)
			}
		})
	}
}

func TestSecretsInTheFileAreRejected(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ body, key, hint string }{
		{"clickhouse:\n  password: hunter2\n", "clickhouse.password", "FAULTLINE_CLICKHOUSE_PASSWORD"},
		{"kafka:\n  sasl:\n    mechanism: PLAIN\n    username: u\n    password: hunter2\n", "kafka.sasl.password", "FAULTLINE_KAFKA_SASL_PASSWORD"},
		{"query:\n  password: hunter2\n", "query.password", "FAULTLINE_QUERY_PASSWORD"},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			_, err := Load(writeFile(t, filepath.Join(dir, tc.key+".yaml"), tc.body))
			if err == nil || !strings.Contains(err.Error(), "key "+tc.key+":") || !strings.Contains(err.Error(), tc.hint) ||
				!strings.Contains(err.Error(), tc.key+"_file") || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("want a rejection naming %s and %s (and not the secret), got %v", tc.key, tc.hint, err)
			}
		})
	}
}
