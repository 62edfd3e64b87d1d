package testenv

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority made for one test, with its certificate in a PEM file, for
// TLS between the test's clients and servers (kfake, clickhouse-server).
type CA struct {
	CertFile string         // the CA certificate, PEM: what a client's tls.ca_file names
	Pool     *x509.CertPool // the same, for a tls.Config

	dir  string
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

// Leaf is a certificate the CA signed, as files (for clickhouse-server, for a client's
// cert_file/key_file) and as a tls.Certificate (for kfake.TLS).
type Leaf struct {
	CertFile, KeyFile string
	Cert              tls.Certificate
}

// NewCA makes a CA valid for an hour with its files in a temp dir. RSA keys and PKCS#1 PEM:
// clickhouse-server 18.16's OpenSSL reads those without fuss.
func NewCA(t testing.TB) *CA {
	t.Helper()
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("testenv: CA key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: "faultline test CA " + randomHex(4)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testenv: CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testenv: CA certificate: %v", err)
	}
	ca := &CA{dir: dir, cert: cert, key: key, Pool: x509.NewCertPool(), CertFile: filepath.Join(dir, "ca.pem")}
	ca.Pool.AddCert(cert)
	writePEMFile(t, ca.CertFile, "CERTIFICATE", der)
	return ca
}

// Server signs a server certificate for 127.0.0.1, ::1 and localhost (Go checks the SAN, not
// the common name).
func (ca *CA) Server(t testing.TB) *Leaf {
	t.Helper()
	return ca.leaf(t, "server", x509.ExtKeyUsageServerAuth, []string{"localhost"},
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
}

// Client signs a client certificate for mutual TLS.
func (ca *CA) Client(t testing.TB, name string) *Leaf {
	t.Helper()
	return ca.leaf(t, name, x509.ExtKeyUsageClientAuth, nil, nil)
}

func (ca *CA) leaf(t testing.TB, name string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) *Leaf {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("testenv: %s key: %v", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: dns, IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("testenv: %s certificate: %v", name, err)
	}
	l := &Leaf{CertFile: filepath.Join(ca.dir, name+".pem"), KeyFile: filepath.Join(ca.dir, name+"-key.pem")}
	writePEMFile(t, l.CertFile, "CERTIFICATE", der)
	writePEMFile(t, l.KeyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	if l.Cert, err = tls.LoadX509KeyPair(l.CertFile, l.KeyFile); err != nil {
		t.Fatalf("testenv: %s key pair: %v", name, err)
	}
	return l
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("testenv: serial: %v", err)
	}
	return n
}

func writePEMFile(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("testenv: %v", fmt.Errorf("write %s: %w", path, err))
	}
}
