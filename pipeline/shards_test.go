package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"syscall"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func TestSlotsFollowShardWeights(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shards []shardInfo
		want   []int
	}{
		{"two equal", []shardInfo{{num: 1, weight: 1}, {num: 2, weight: 1}}, []int{1, 2}},
		{"weighted", []shardInfo{{num: 1, weight: 2}, {num: 2, weight: 1}}, []int{1, 1, 2}},
		{"zero weight takes nothing", []shardInfo{{num: 1, weight: 0}, {num: 2, weight: 3}}, []int{2, 2, 2}},
		{"none", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := slotsOf(tc.shards); !slices.Equal(got, tc.want) {
				t.Fatalf("slotsOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRetryCauses(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&clickhouse.Exception{Code: 242, Message: "Table is in readonly mode"}, "replica_readonly"},
		{&clickhouse.Exception{Code: 999, Message: "Coordination::Exception: Connection loss"}, "zookeeper"},
		{&clickhouse.Exception{Code: 279, Message: "All connection tries failed"}, "shard_unavailable"},
		{&clickhouse.Exception{Code: 252, Message: "Too many parts"}, "too_many_parts"},
		{&clickhouse.Exception{Code: 241}, "memory"},
		{&clickhouse.Exception{Code: 1}, "other"},
		{fmt.Errorf("insert: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "connection"},
		{io.ErrUnexpectedEOF, "connection"},
		{errors.New("something else"), "other"},
	} {
		if got := retryCause(tc.err); got != tc.want {
			t.Errorf("retryCause(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// An insert id stays while the same rows are sent again (a Replicated table then drops the
// repeat as a duplicate block) and changes with the rows.
func TestAttemptIDFollowsTheRows(t *testing.T) {
	var a attemptID
	first := a.forRows(10)
	if first == 0 {
		t.Fatal("id 0")
	}
	if again := a.forRows(10); again != first {
		t.Fatalf("same rows again: id %x, then %x", first, again)
	}
	if fewer := a.forRows(7); fewer == first {
		t.Fatalf("fewer rows kept id %x", first)
	}
}
