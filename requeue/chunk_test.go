package requeue

import (
	"testing"

	"github.com/faultline/faultline/pipeline"
)

func TestByPartitionChunks(t *testing.T) {
	var rows []*pipeline.Row
	for i := 12000; i >= 0; i-- { // 12001 offsets, given in reverse
		rows = append(rows, &pipeline.Row{Topic: "t", Partition: 1, Offset: int64(i)})
	}
	rows = append(rows, &pipeline.Row{Topic: "t", Partition: 2, Offset: 7})
	got := byPartition(rows)
	c := got[offsetKey{"t", 1, 0}]
	if len(c) != 3 || len(c[0]) != maxInList || len(c[1]) != maxInList || len(c[2]) != 2001 {
		t.Fatalf("chunks of partition 1: %d", len(c))
	}
	if c[0][0] != 0 || c[2][len(c[2])-1] != 12000 {
		t.Errorf("chunks not sorted: first %d, last %d", c[0][0], c[2][len(c[2])-1])
	}
	if p2 := got[offsetKey{"t", 2, 0}]; len(p2) != 1 || len(p2[0]) != 1 || p2[0][0] != 7 {
		t.Errorf("partition 2: %v", p2)
	}
	if s := inList([]int64{3, 10}); s != "(3, 10)" {
		t.Errorf("inList = %q", s)
	}
}
