package chconn

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func chConfig(addr, compression string) config.ClickHouse {
	return config.ClickHouse{Addr: []string{addr}, Database: "faultline", Username: "default",
		DialTimeout: time.Second, ReadTimeout: 5 * time.Second, Compression: compression}
}

func selectOne(t *testing.T, cfg config.ClickHouse, o Options) {
	t.Helper()
	conn, err := Open(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var one uint8
	if err := conn.QueryRow(context.Background(), "SELECT toUInt8(1)").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func TestOpenAnswersWithEveryCompression(t *testing.T) {
	ch := testenv.ClickHouse(t)
	for _, comp := range []string{"lz4", "zstd", "none"} {
		t.Run(comp, func(t *testing.T) { selectOne(t, chConfig(ch.Addr, comp), Options{MaxConns: 2}) })
	}
	if _, err := Open(context.Background(), chConfig(ch.Addr, "gzip"), Options{}); err == nil || !strings.Contains(err.Error(), "clickhouse.compression") {
		t.Fatalf("compression gzip: %v", err)
	}
}

func TestOpenNamesAnUnreachableAddress(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) // nothing listens there
	_, err := Open(context.Background(), chConfig(addr, "lz4"), Options{})
	if err == nil || !strings.Contains(err.Error(), "clickhouse at "+addr) || !strings.Contains(err.Error(), "clickhouse.addr") {
		t.Fatalf("error %v does not name %s", err, addr)
	}
}

// Over TLS with the test CA: the writer and the read-only user connect with their
// passwords, with every compression; each mistake fails naming the address and the fix.
func TestTLS(t *testing.T) {
	ca := testenv.NewCA(t)
	srv := testenv.StartClickHouseTLSServer(t, ca)
	secure := func(user, pass string) config.ClickHouse {
		c := chConfig(srv.SecureAddr, "lz4")
		c.Username, c.Password = user, pass
		c.TLS = config.TLS{Enabled: true, CAFile: ca.CertFile}
		return c
	}
	t.Run("writer", func(t *testing.T) {
		for _, comp := range []string{"lz4", "zstd", "none"} {
			c := secure("default", srv.WriterPassword)
			c.Compression = comp
			selectOne(t, c, Options{MaxConns: 2})
		}
	})
	t.Run("reader", func(t *testing.T) { selectOne(t, secure("faultline_ro", srv.ReaderPassword), Options{}) })
	t.Run("server name", func(t *testing.T) {
		c := secure("default", srv.WriterPassword)
		c.TLS.ServerName = "localhost"
		selectOne(t, c, Options{})
	})
	t.Run("skip verify", func(t *testing.T) {
		c := secure("default", srv.WriterPassword)
		c.TLS = config.TLS{Enabled: true, InsecureSkipVerify: true}
		selectOne(t, c, Options{})
	})

	otherCA := testenv.NewCA(t)
	cases := []struct {
		name string
		cfg  func() config.ClickHouse
		o    Options
		want []string
	}{
		{"wrong CA", func() config.ClickHouse {
			c := secure("default", srv.WriterPassword)
			c.TLS.CAFile = otherCA.CertFile
			return c
		}, Options{}, []string{"(TLS", "not signed by a CA in clickhouse.tls.ca_file"}},
		{"system roots", func() config.ClickHouse {
			c := secure("default", srv.WriterPassword)
			c.TLS.CAFile = ""
			return c
		}, Options{}, []string{"system roots"}},
		{"wrong server name", func() config.ClickHouse {
			c := secure("default", srv.WriterPassword)
			c.TLS.ServerName = "clickhouse.example"
			return c
		}, Options{}, []string{"clickhouse.tls.server_name"}},
		{"wrong password", func() config.ClickHouse { return secure("default", "not-it") }, Options{},
			[]string{`authentication failed for user "default"`, "FAULTLINE_CLICKHOUSE_PASSWORD"}},
		{"no password", func() config.ClickHouse { return secure("default", "") }, Options{},
			[]string{`authentication failed for user "default"`}},
		{"wrong reader password", func() config.ClickHouse { return secure("faultline_ro", srv.WriterPassword) },
			Options{Credentials: "query.username and FAULTLINE_QUERY_PASSWORD or query.password_file"},
			[]string{`authentication failed for user "faultline_ro"`, "FAULTLINE_QUERY_PASSWORD"}},
		{"plaintext to the TLS port", func() config.ClickHouse {
			c := secure("default", srv.WriterPassword)
			c.TLS = config.TLS{}
			return c
		}, Options{}, []string{"(plaintext", "set clickhouse.tls.enabled"}},
		{"TLS to the plaintext port", func() config.ClickHouse {
			c := secure("default", srv.WriterPassword)
			c.Addr = []string{srv.Addr}
			return c
		}, Options{}, []string{"answered in plaintext", "tcp_port_secure"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			_, err := Open(context.Background(), cfg, tc.o)
			if err == nil {
				t.Fatal("connected, want an error")
			}
			msg := err.Error()
			t.Log(msg)
			for _, want := range append([]string{"clickhouse at " + cfg.Addr[0]}, tc.want...) {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if strings.Contains(msg, srv.WriterPassword) || strings.Contains(msg, "not-it") {
				t.Errorf("error %q shows a password", msg)
			}
		})
	}
}

// Mutual TLS: a server that wants a client certificate takes clickhouse.tls.cert_file and
// key_file, and a client without one is told which keys to set.
func TestMutualTLS(t *testing.T) {
	ca := testenv.NewCA(t)
	srv := testenv.StartClickHouseMutualTLSServer(t, ca)
	client := ca.Client(t, "faultline-ingest")
	cfg := chConfig(srv.SecureAddr, "lz4")
	cfg.Password = srv.WriterPassword
	cfg.TLS = config.TLS{Enabled: true, CAFile: ca.CertFile, CertFile: client.CertFile, KeyFile: client.KeyFile}
	selectOne(t, cfg, Options{})

	cfg.TLS.CertFile, cfg.TLS.KeyFile = "", ""
	_, err := Open(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "clickhouse at "+srv.SecureAddr) || !strings.Contains(err.Error(), "clickhouse.tls.cert_file") {
		t.Fatalf("without a client certificate: %v", err)
	}
	t.Log(err)
}
