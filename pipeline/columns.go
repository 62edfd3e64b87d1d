package pipeline

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// The column buffers of a columnar batch. Each keeps its values in ClickHouse's Native
// encoding (or as plain fixed-width values, which are their own encoding), so that encoding
// a block is a copy per run of rows, not work per value, and any set of rows of a batch can
// be encoded again (a retry, a half of a split): the same rows always give the same bytes.

// span is the rows [lo, hi) of a batch.
type span struct{ lo, hi int }

// spansLen is the number of rows spans cover.
func spansLen(spans []span) int {
	n := 0
	for _, s := range spans {
		n += s.hi - s.lo
	}
	return n
}

// allRows is the span of a buffer's n rows: none when n is 0.
func allRows(n int) []span {
	if n == 0 {
		return nil
	}
	return []span{{0, n}}
}

// filterSpans returns the rows of spans for which keep is true, in order.
func filterSpans(spans []span, keep func(i int) bool) []span {
	var out []span
	for _, s := range spans {
		for i := s.lo; i < s.hi; i++ {
			if !keep(i) {
				continue
			}
			if n := len(out); n > 0 && out[n-1].hi == i {
				out[n-1].hi++
			} else {
				out = append(out, span{i, i + 1})
			}
		}
	}
	return out
}

// splitSpans returns the first n rows of spans and the rest.
func splitSpans(spans []span, n int) (head, tail []span) {
	for k, s := range spans {
		size := s.hi - s.lo
		if n >= size {
			n -= size
			continue
		}
		head = append(head, spans[:k]...)
		if n > 0 {
			head = append(head, span{s.lo, s.lo + n})
		}
		tail = append(append(tail, span{s.lo + n, s.hi}), spans[k+1:]...)
		return head, tail
	}
	return spans, nil
}

// eachRow calls f for every row of spans, in order.
func eachRow(spans []span, f func(i int)) {
	for _, s := range spans {
		for i := s.lo; i < s.hi; i++ {
			f(i)
		}
	}
}

// fixedCol is a column of fixed-width values; ch-go's column types encode them (one copy on
// little-endian machines).
type fixedCol[T any, C interface {
	~[]T
	EncodeColumn(*chproto.Buffer)
}] struct{ v C }

func (c *fixedCol[T, C]) add(x T) { c.v = append(c.v, x) }
func (c *fixedCol[T, C]) reset()  { c.v = c.v[:0] }
func (c *fixedCol[T, C]) bytes() int {
	var x T
	return cap(c.v) * int(reflect.TypeOf(x).Size())
}
func (c *fixedCol[T, C]) write(b *chproto.Buffer, spans []span) {
	for _, s := range spans {
		c.v[s.lo:s.hi].EncodeColumn(b)
	}
}

// strCol is a String column: each value as its length (uvarint) and bytes, row after row;
// ends[i] is where row i ends.
type strCol struct {
	data []byte
	ends []int
}

func (c *strCol) add(s string) {
	c.data = binary.AppendUvarint(c.data, uint64(len(s)))
	c.data = append(c.data, s...)
	c.ends = append(c.ends, len(c.data))
}

func (c *strCol) addBytes(s []byte) {
	c.data = binary.AppendUvarint(c.data, uint64(len(s)))
	c.data = append(c.data, s...)
	c.ends = append(c.ends, len(c.data))
}

func (c *strCol) start(i int) int {
	if i == 0 {
		return 0
	}
	return c.ends[i-1]
}

// encoded is row i as stored: length and bytes.
func (c *strCol) encoded(i int) []byte { return c.data[c.start(i):c.ends[i]] }

// value is row i's bytes. They alias the column: copy them to keep them past a reset.
func (c *strCol) value(i int) []byte {
	e := c.encoded(i)
	_, n := binary.Uvarint(e)
	return e[n:]
}

func (c *strCol) rows() int  { return len(c.ends) }
func (c *strCol) reset()     { c.data, c.ends = c.data[:0], c.ends[:0] }
func (c *strCol) bytes() int { return cap(c.data) + 8*cap(c.ends) }

func (c *strCol) write(b *chproto.Buffer, spans []span) {
	for _, s := range spans {
		b.Buf = append(b.Buf, c.data[c.start(s.lo):c.start(s.hi)]...)
	}
}

// strArrCol is an Array(String) column: the items of each row encoded as in strCol, and
// per row the number of items and where they end.
type strArrCol struct {
	items strCol // ends: per row, not per item
	count []uint32
	open  uint32 // items of the row being added
}

func (c *strArrCol) item(s string) {
	c.items.data = binary.AppendUvarint(c.items.data, uint64(len(s)))
	c.items.data = append(c.items.data, s...)
	c.open++
}

func (c *strArrCol) endRow() {
	c.items.ends = append(c.items.ends, len(c.items.data))
	c.count = append(c.count, c.open)
	c.open = 0
}

func (c *strArrCol) reset()     { c.items.reset(); c.count = c.count[:0]; c.open = 0 }
func (c *strArrCol) bytes() int { return c.items.bytes() + 4*cap(c.count) }

func (c *strArrCol) write(b *chproto.Buffer, spans []span) {
	// Native arrays: the running total of items after each row, then every item.
	var total uint64
	for _, s := range spans {
		for _, n := range c.count[s.lo:s.hi] {
			total += uint64(n)
			b.PutUInt64(total)
		}
	}
	c.items.write(b, spans)
}

// nullFloatCol is a Nullable(Float64) column.
type nullFloatCol struct {
	null fixedCol[uint8, chproto.ColUInt8]
	v    fixedCol[float64, chproto.ColFloat64]
}

func (c *nullFloatCol) add(v float64, ok bool) {
	if ok {
		c.null.add(0)
		c.v.add(v)
		return
	}
	c.null.add(1)
	c.v.add(0)
}

func (c *nullFloatCol) reset()     { c.null.reset(); c.v.reset() }
func (c *nullFloatCol) bytes() int { return c.null.bytes() + c.v.bytes() }
func (c *nullFloatCol) write(b *chproto.Buffer, spans []span) {
	c.null.write(b, spans)
	c.v.write(b, spans)
}

// lowCardCol is a LowCardinality(String) column: a dictionary of the batch's distinct values
// and a key per row. The dictionary is laid out as clickhouse-go v2.25.0 lays out its own
// (the default "" first and never referenced, then the values in order of first appearance),
// so a whole batch encodes to the bytes clickhouse-go would send.
type lowCardCol struct {
	dict  strCol            // encoded, as sent
	vals  []string          // the same values, owned copies (never payload memory)
	index map[string]uint32 // value -> key, keyed by vals' strings
	keys  []uint32
	// last is the previous row's key: many columns repeat the previous row's value
	// (environment, topic, catalog version), and comparing is cheaper than hashing.
	last uint32
	// byNumber is the key of each catalog entry's value (0: not yet in the batch), for
	// values the checks took from the catalog (see addNumbered).
	byNumber []uint32

	// scratch for a block of some of the rows (see write)
	remap []uint32
	sub   strCol
}

func (c *lowCardCol) add(s string) { c.addOwned(s, false) }

// addNumbered adds s, a string of catalog entry n (event.Event.EntryNumber): found by the
// number instead of a hash of s, and kept without a copy (the catalog's strings are never
// payload memory). The key found is checked against s, so a batch that spans a catalog
// reload (numbers of another catalog) still encodes each value as itself.
func (c *lowCardCol) addNumbered(n int, s string) {
	if n < len(c.byNumber) {
		// The same string as the entry's is the same pointer: comparing costs no reading.
		if k := c.byNumber[n]; k != 0 && c.vals[k] == s {
			c.last = k
			c.keys = append(c.keys, k)
			return
		}
	} else {
		c.byNumber = append(c.byNumber, make([]uint32, n+1-len(c.byNumber))...)
	}
	c.addOwned(s, true)
	c.byNumber[n] = c.last
}

// addOwned adds s; owned says s is not payload memory and need not be copied.
func (c *lowCardCol) addOwned(s string, owned bool) {
	if len(c.vals) > 0 {
		if l := c.vals[c.last]; len(l) == len(s) && l == s {
			c.keys = append(c.keys, c.last)
			return
		}
	} else {
		c.dict.add("")
		c.vals = append(c.vals, "")
	}
	k, ok := c.index[s]
	if !ok {
		if c.index == nil {
			c.index = map[string]uint32{}
		}
		k = uint32(len(c.vals))
		if !owned {
			s = strings.Clone(s)
		}
		c.dict.add(s)
		c.vals = append(c.vals, s)
		c.index[s] = k
	}
	c.last = k
	c.keys = append(c.keys, k)
}

// value is row i's value.
func (c *lowCardCol) value(i int) string { return c.vals[c.keys[i]] }

func (c *lowCardCol) reset() {
	c.dict.reset()
	clear(c.vals)
	c.vals = c.vals[:0]
	clear(c.index)
	clear(c.byNumber)
	c.keys = c.keys[:0]
	c.last = 0
}

func (c *lowCardCol) bytes() int { return c.dict.bytes() + 4*cap(c.keys) + 64*len(c.index) }

// LowCardinality's Native encoding (after the serialization version, which
// lowCardColumn.WriteStatePrefix writes): flags and the key width, the dictionary, the keys.
const (
	lcHasAdditionalKeys  = 1 << 9
	lcNeedUpdateDict     = 1 << 10
	lcKeyUInt8, lcKeyU16 = 0, 1
	lcKeyU32             = 2
)

// write encodes the rows of spans. A block of every row sends the batch's dictionary; a block
// of some rows (a retry without what landed, a half of a split) sends only the values its
// rows use, in their order of first appearance, as clickhouse-go would for those rows: the
// server may evaluate a column's expressions on the dictionary itself, so a value no row of
// the block holds (the row a split is isolating) must not be in it.
func (c *lowCardCol) write(b *chproto.Buffer, spans []span) {
	rows := spansLen(spans)
	if rows == 0 {
		return // clickhouse-go writes no dictionary for no rows, only the state prefix
	}
	if rows == len(c.keys) {
		c.writeBlock(b, &c.dict, spans, nil)
		return
	}
	// remap[k] is old key k's key in the block's dictionary plus one (0: not used yet).
	c.remap = append(c.remap[:0], make([]uint32, len(c.vals))...)
	c.sub.reset()
	c.sub.add("")
	next := uint32(1)
	eachRow(spans, func(i int) {
		k := c.keys[i]
		if k != 0 && c.remap[k] == 0 {
			c.remap[k] = next + 1
			next++
			c.sub.add(c.vals[k])
		}
	})
	c.remap[0] = 1 // "" stays key 0
	c.writeBlock(b, &c.sub, spans, c.remap)
}

// writeBlock writes the dictionary dict and the keys of spans, mapped through remap (key k
// becomes remap[k]-1) unless remap is nil.
func (c *lowCardCol) writeBlock(b *chproto.Buffer, dict *strCol, spans []span, remap []uint32) {
	distinct := dict.rows() - 1
	width := uint64(lcKeyU32)
	switch {
	case distinct < math.MaxUint8:
		width = lcKeyUInt8
	case distinct < math.MaxUint16:
		width = lcKeyU16
	}
	b.PutUInt64(lcHasAdditionalKeys | lcNeedUpdateDict | width)
	b.PutInt64(int64(dict.rows()))
	dict.write(b, []span{{0, dict.rows()}})
	b.PutInt64(int64(spansLen(spans)))
	key := func(k uint32) uint32 {
		if remap != nil {
			return remap[k] - 1
		}
		return k
	}
	for _, s := range spans {
		keys := c.keys[s.lo:s.hi]
		switch width {
		case lcKeyUInt8:
			for _, k := range keys {
				b.Buf = append(b.Buf, byte(key(k)))
			}
		case lcKeyU16:
			for _, k := range keys {
				b.Buf = binary.LittleEndian.AppendUint16(b.Buf, uint16(key(k)))
			}
		default:
			for _, k := range keys {
				b.Buf = binary.LittleEndian.AppendUint32(b.Buf, key(k))
			}
		}
	}
}

// constCol writes the same fixed-width value for every row (insert_id, ingested_at).
func constUInt64(b *chproto.Buffer, v uint64, n int) {
	for range n {
		b.PutUInt64(v)
	}
}

func constUInt32(b *chproto.Buffer, v uint32, n int) {
	for range n {
		b.PutUInt32(v)
	}
}

// encodedColumn is a column of a clickhouse-go block whose bytes a batch writes itself:
// clickhouse-go v2.25.0 sends a block by asking each column for its name, type, rows and
// encoding, and this is all such a column answers. Everything else (reading, appending
// values) is not for an insert block built here and reports errWriteOnly.
type encodedColumn struct {
	name  string
	typ   column.Type
	rows  int
	write func(*chproto.Buffer)
}

// errWriteOnly: an encodedColumn is only ever encoded.
var errWriteOnly = errors.New("pipeline: a batch's encoded column is write-only")

func (c *encodedColumn) Name() string                      { return c.name }
func (c *encodedColumn) Type() column.Type                 { return c.typ }
func (c *encodedColumn) Rows() int                         { return c.rows }
func (c *encodedColumn) Row(int, bool) any                 { return nil }
func (c *encodedColumn) ScanRow(any, int) error            { return errWriteOnly }
func (c *encodedColumn) Append(any) ([]uint8, error)       { return nil, errWriteOnly }
func (c *encodedColumn) AppendRow(any) error               { return errWriteOnly }
func (c *encodedColumn) Decode(*chproto.Reader, int) error { return errWriteOnly }
func (c *encodedColumn) Encode(b *chproto.Buffer)          { c.write(b) }
func (c *encodedColumn) ScanType() reflect.Type            { return reflect.TypeFor[[]byte]() }
func (c *encodedColumn) Reset()                            {}

// lowCardColumn is an encodedColumn of type LowCardinality: its encoding starts with the
// serialization version, written as the block's state prefix.
type lowCardColumn struct{ encodedColumn }

// lowCardSharedDictionaries is LowCardinality's serialization version: shared dictionaries
// with additional keys, the one ClickHouse reads and clickhouse-go writes.
const lowCardSharedDictionaries = 1

func (c *lowCardColumn) ReadStatePrefix(*chproto.Reader) error { return errWriteOnly }

func (c *lowCardColumn) WriteStatePrefix(b *chproto.Buffer) error {
	b.PutUInt64(lowCardSharedDictionaries)
	return nil
}

var (
	_ column.Interface           = (*encodedColumn)(nil)
	_ column.CustomSerialization = (*lowCardColumn)(nil)
)
