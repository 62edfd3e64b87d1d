package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// TLSServer is a clickhouse-server 18.16 of its own with a TLS native port
// (tcp_port_secure) under a certificate of a test CA, and passwords on its users.
type TLSServer struct {
	*Server
	SecureAddr string // native protocol over TLS, 127.0.0.1:port; Addr stays plaintext
	CA         *CA    // signed the server's certificate (for 127.0.0.1 and localhost)
	// Passwords of the users default (writer) and faultline_ro (read-only), random per server.
	WriterPassword, ReaderPassword string

	adminCert *Leaf // the client certificate Admin presents to a mutual-TLS server
}

// StartClickHouseTLSServer starts a dedicated clickhouse-server like StartClickHouseServer,
// plus a TLS port with a certificate signed by ca, and with random passwords on the users of
// deploy/clickhouse/users.xml. It is stopped at cleanup.
func StartClickHouseTLSServer(t testing.TB, ca *CA) *TLSServer {
	t.Helper()
	return startTLSServer(t, ca, false)
}

// StartClickHouseMutualTLSServer is StartClickHouseTLSServer with a TLS port that also wants
// a client certificate signed by ca (Admin connects with one).
func StartClickHouseMutualTLSServer(t testing.TB, ca *CA) *TLSServer {
	t.Helper()
	return startTLSServer(t, ca, true)
}

func startTLSServer(t testing.TB, ca *CA, mutual bool) *TLSServer {
	t.Helper()
	dir := t.TempDir()
	srv, err := newServer(dir)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	srv.t = t
	leaf := ca.Server(t)
	port, err := freePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ts := &TLSServer{Server: srv, SecureAddr: hostPort(port), CA: ca,
		WriterPassword: "w-" + randomHex(8), ReaderPassword: "r-" + randomHex(8)}

	// verificationMode none: the server asks for no client certificate (clients verify the
	// server's); strict with caConfig: it wants one signed by ca.
	verify := "<verificationMode>none</verificationMode>"
	if mutual {
		verify = "<verificationMode>strict</verificationMode>\n            <caConfig>" + ca.CertFile + "</caConfig>"
		ts.adminCert = ca.Client(t, "testenv-admin")
	}
	secure := fmt.Sprintf(`
    <tcp_port_secure>%d</tcp_port_secure>
    <openSSL>
        <server>
            <certificateFile>%s</certificateFile>
            <privateKeyFile>%s</privateKeyFile>
            %s
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
</yandex>`, port, leaf.CertFile, leaf.KeyFile, verify)
	if err := editFile(filepath.Join(dir, "config.xml"), func(s string) (string, error) {
		if !strings.Contains(s, "</yandex>") {
			return "", fmt.Errorf("no </yandex> in the config template")
		}
		return strings.Replace(s, "</yandex>", secure, 1), nil
	}); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := editFile(filepath.Join(dir, "users.xml"), func(s string) (string, error) {
		for user, pw := range map[string]string{"default": ts.WriterPassword, "faultline_ro": ts.ReaderPassword} {
			open := "<" + user + ">\n            <password></password>"
			if !strings.Contains(s, open) {
				return "", fmt.Errorf("users.xml has no password-less user %s to protect", user)
			}
			s = strings.Replace(s, open, "<"+user+">\n            <password>"+pw+"</password>", 1)
		}
		return s, nil
	}); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	srv.p.args = append(srv.p.args, "--tcp_port_secure="+strconv.Itoa(port))
	if err := srv.start(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { srv.p.stop(syscall.SIGTERM, 15*time.Second) })
	if err := srv.p.waitReady(30*time.Second, dialReady(ts.SecureAddr)); err != nil {
		t.Fatalf("testenv: clickhouse-server TLS port: %v", err)
	}
	return ts
}

// Admin opens a native connection over TLS as the writer, for setting up and checking what a
// test stored; closed at cleanup.
func (s *TLSServer) Admin(t testing.TB) driver.Conn {
	t.Helper()
	tlsCfg := &tls.Config{RootCAs: s.CA.Pool, MinVersion: tls.VersionTLS12}
	if s.adminCert != nil {
		tlsCfg.Certificates = []tls.Certificate{s.adminCert.Cert}
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{s.SecureAddr},
		Auth:        clickhouse.Auth{Database: "default", Username: "default", Password: s.WriterPassword},
		TLS:         tlsCfg,
		DialTimeout: 5 * time.Second,
	})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = conn.Ping(ctx)
		cancel()
	}
	if err != nil {
		t.Fatalf("testenv: clickhouse over TLS at %s: %v", s.SecureAddr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func editFile(path string, edit func(string) (string, error)) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s, err := edit(string(b))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
