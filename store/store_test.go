package store

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

func TestOpenAnswersWithEveryCompression(t *testing.T) {
	ch := testenv.ClickHouse(t)
	for _, comp := range []string{"lz4", "zstd", "none"} {
		conn, err := Open(context.Background(), chConfig(ch.Addr, comp), 2)
		if err != nil {
			t.Fatalf("%s: %v", comp, err)
		}
		var one uint8
		if err := conn.QueryRow(context.Background(), "SELECT toUInt8(1)").Scan(&one); err != nil || one != 1 {
			t.Fatalf("%s: SELECT 1 = %d, %v", comp, one, err)
		}
		conn.Close()
	}
}

func TestOpenNamesAnUnreachableAddress(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) // nothing listens there
	_, err := Open(context.Background(), chConfig(addr, "lz4"), 2)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %v does not name %s", err, addr)
	}
}
