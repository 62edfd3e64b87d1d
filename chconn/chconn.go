// Package chconn opens faultline's ClickHouse connections from config.ClickHouse, the same
// way for the ingester and the query CLI: native protocol, TLS (clickhouse.tls), user and
// password, compression, dial and read timeouts, a ping before use, and errors that name the
// address and say what to fix.
package chconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/faultline/faultline/config"
)

// Options are what differs between the callers of Open.
type Options struct {
	// Database is the session's default database. Empty means "default": the ingester's
	// database may not exist before its migrations, and every query names it anyway.
	Database string
	// MaxConns bounds the pool (idle ones too); 0 leaves clickhouse-go's default.
	MaxConns int
	// Credentials says where the user and password come from, for the hint on an
	// authentication failure. Empty: the clickhouse section's keys.
	Credentials string
}

// maxCompressionBuffer is how much of an insert's encoded block is held before it is
// compressed and written to the server.
const maxCompressionBuffer = 1 << 20

// IngestCredentials are the keys of the ingester's (writer's) user and password.
const IngestCredentials = "clickhouse.username and FAULTLINE_CLICKHOUSE_PASSWORD or clickhouse.password_file"

// QueryCredentials are the keys of the query CLI's (read-only) user and password.
const QueryCredentials = "query.username and FAULTLINE_QUERY_PASSWORD or query.password_file"

// Open connects to cfg.Addr and pings, so a wrong address, certificate or password is
// reported at once, naming the address, rather than at the first query.
func Open(ctx context.Context, cfg config.ClickHouse, o Options) (driver.Conn, error) {
	comp := &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	switch cfg.Compression {
	case "lz4", "":
	case "zstd":
		comp.Method = clickhouse.CompressionZSTD
	case "none":
		comp = nil
	default:
		return nil, fmt.Errorf("clickhouse.compression %q is not lz4, zstd or none", cfg.Compression)
	}
	tlsCfg, err := cfg.TLS.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("clickhouse.%w", err)
	}
	db := o.Database
	if db == "" {
		db = "default"
	}
	if o.Credentials == "" {
		o.Credentials = IngestCredentials
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         cfg.Addr,
		Auth:         clickhouse.Auth{Database: db, Username: cfg.Username, Password: cfg.Password},
		TLS:          tlsCfg,
		DialTimeout:  cfg.DialTimeout,
		ReadTimeout:  cfg.ReadTimeout,
		Compression:  comp,
		MaxOpenConns: o.MaxConns,
		MaxIdleConns: o.MaxConns,
		// Inserts are encoded into one buffer per connection, compressed and sent whenever it
		// passes this size (checked after each column); the buffer and the compressor's output
		// keep their capacity for the connection's life. clickhouse-go's 10 MiB default let a
		// 32 MiB batch grow both to the whole block (about 2 x 23 MiB per connection, seen in
		// heap profiles); sending every 1 MiB costs a few more writes per insert.
		MaxCompressionBuffer: maxCompressionBuffer,
	})
	if err != nil {
		return nil, describe(cfg, tlsCfg, o, "cannot open", err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+cfg.ReadTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, describe(cfg, tlsCfg, o, explain(cfg, tlsCfg, o, err), err)
	}
	return conn, nil
}

func describe(cfg config.ClickHouse, tlsCfg *tls.Config, o Options, problem string, err error) error {
	how := "plaintext"
	if tlsCfg != nil {
		how = "TLS"
		if tlsCfg.InsecureSkipVerify {
			how = "TLS without certificate checks"
		}
	}
	return fmt.Errorf("clickhouse at %s (%s, user %q): %s: %w", strings.Join(cfg.Addr, ", "), how, cfg.Username, problem, err)
}

// ClickHouse error codes that mean the credentials were refused.
const (
	codeUnknownUser   = 192
	codeWrongPassword = 193
	codeNoPassword    = 194
	codeIPNotAllowed  = 195
	codeAuthFailed    = 516 // current servers say this for every one of the above
)

// explain says in words what a failed ping means and which key fixes it.
func explain(cfg config.ClickHouse, tlsCfg *tls.Config, o Options, err error) string {
	var (
		ex          *clickhouse.Exception
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalidCert x509.CertificateInvalidError
		recordHdr   tls.RecordHeaderError
		alert       tls.AlertError
		opErr       *net.OpError
	)
	caSource := "clickhouse.tls.ca_file"
	if tlsCfg != nil && tlsCfg.RootCAs == nil {
		caSource = "the system roots (set clickhouse.tls.ca_file)"
	}
	switch {
	case errors.As(err, &ex) && (ex.Code == codeWrongPassword || ex.Code == codeNoPassword ||
		ex.Code == codeUnknownUser || ex.Code == codeAuthFailed):
		return fmt.Sprintf("authentication failed for user %q: check %s", cfg.Username, o.Credentials)
	case errors.As(err, &ex) && ex.Code == codeIPNotAllowed:
		return fmt.Sprintf("user %q may not connect from this address (its networks in the server's users.xml)", cfg.Username)
	case errors.As(err, &unknownCA):
		return "TLS failed: the server's certificate is not signed by a CA in " + caSource
	case errors.As(err, &hostname):
		return "TLS failed: the server's certificate does not name this host: set clickhouse.tls.server_name to a name it holds or dial that name"
	case errors.As(err, &invalidCert):
		return "TLS failed: the server's certificate is not valid (expired, not yet valid, or not for servers)"
	case errors.As(err, &recordHdr):
		return "TLS failed: the server answered in plaintext; this is not its TLS port (tcp_port_secure, usually 9440): point clickhouse.addr there or unset clickhouse.tls.enabled"
	case errors.As(err, &alert), errors.As(err, &opErr) && opErr.Op == "remote error":
		return "TLS failed: the server refused the handshake (does it want a client certificate? clickhouse.tls.cert_file, clickhouse.tls.key_file)"
	case tlsCfg != nil && tlsCfg.Certificates == nil && closedByPeer(err):
		// TLS 1.3 sends a refused client certificate's alert after the client thinks the
		// handshake is done, so the client may see only a reset on its first write.
		return "TLS failed: the server closed the connection after the handshake (does it want a client certificate? clickhouse.tls.cert_file, clickhouse.tls.key_file)"
	case tlsCfg != nil && strings.Contains(err.Error(), "tls:"):
		return "TLS failed"
	case tlsCfg == nil && closedByPeer(err):
		return "the server closed the connection at the handshake: if this is its TLS port (tcp_port_secure, usually 9440), set clickhouse.tls.enabled"
	case errors.As(err, &opErr) && opErr.Op == "dial", errors.Is(err, syscall.ECONNREFUSED):
		return "unreachable (check clickhouse.addr)"
	default:
		return "unreachable or not answering"
	}
}

func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
