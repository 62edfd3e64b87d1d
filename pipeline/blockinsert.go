package pipeline

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// An insert's block is encoded from column buffers (columns.go), not appended value by value
// through clickhouse-go's columns: no boxing per value, no map[any] per LowCardinality value.
// clickhouse-go v2.25.0 still sends it (header, compression, the connection's deadline,
// errors): it has no API to hand a batch ready columns, so setBlockColumns puts them into
// the block its batch sends, after checking them against the header the server sent.

// errBatchLayout: the clickhouse-go batch is not laid out as v2.25.0's (go.mod pins it; a
// bump must update setBlockColumns). The insert fails rather than sending anything else.
var errBatchLayout = errors.New("pipeline: clickhouse-go batch has no block field of type *proto.Block (only v2.25.0 is supported)")

// batchBlock is the *proto.Block a clickhouse-go v2.25.0 batch sends on Send.
func batchBlock(b driver.Batch) (*proto.Block, error) {
	v := reflect.ValueOf(b)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, errBatchLayout
	}
	f := v.Elem().FieldByName("block")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*proto.Block]() {
		return nil, errBatchLayout
	}
	blk := *(**proto.Block)(unsafe.Pointer(f.UnsafeAddr()))
	if blk == nil {
		return nil, errBatchLayout
	}
	return blk, nil
}

// setBlockColumns makes cols the block batch sends. The server's header must name the same
// columns with the same types in the same order; a difference is the client refusing the
// insert (encodeError), as clickhouse-go refused values of a wrong type before.
func setBlockColumns(b driver.Batch, cols []column.Interface) error {
	blk, err := batchBlock(b)
	if err != nil {
		return err
	}
	if len(blk.Columns) != len(cols) {
		return &encodeError{column: "*", err: fmt.Errorf("the server's insert header has %d columns, the batch encodes %d", len(blk.Columns), len(cols))}
	}
	for i, c := range blk.Columns {
		if c.Name() != cols[i].Name() || c.Type() != cols[i].Type() {
			return &encodeError{column: cols[i].Name(), err: fmt.Errorf("the server has column %d as %s %s, the batch encodes %s %s",
				i, c.Name(), c.Type(), cols[i].Name(), cols[i].Type())}
		}
		if c.Rows() != 0 {
			return &encodeError{column: c.Name(), err: errors.New("the batch already holds rows")}
		}
	}
	blk.Columns = cols
	return nil
}
