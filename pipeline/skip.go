package pipeline

import "sort"

// offsetSet is the set of offsets of one partition already stored in ClickHouse, read back
// when the partition is assigned. Stored offsets come in long runs, so it keeps ranges.
type offsetSet struct {
	ranges [][2]int64 // sorted, disjoint, inclusive
	cursor int        // offsets are asked in increasing order
}

func newOffsetSet(offsets []int64) *offsetSet {
	sort.Slice(offsets, func(i, j int) bool { return offsets[i] < offsets[j] })
	s := &offsetSet{}
	for _, o := range offsets {
		if n := len(s.ranges); n > 0 && o <= s.ranges[n-1][1]+1 {
			s.ranges[n-1][1] = max(s.ranges[n-1][1], o)
			continue
		}
		s.ranges = append(s.ranges, [2]int64{o, o})
	}
	return s
}

// contains reports whether o is stored. Calls must come with non-decreasing o.
func (s *offsetSet) contains(o int64) bool {
	for s.cursor < len(s.ranges) && s.ranges[s.cursor][1] < o {
		s.cursor++
	}
	return s.cursor < len(s.ranges) && s.ranges[s.cursor][0] <= o
}

// exhausted reports whether no offset at or after the last one asked is stored.
func (s *offsetSet) exhausted() bool { return s.cursor >= len(s.ranges) }

func (s *offsetSet) len() int {
	n := 0
	for _, r := range s.ranges {
		n += int(r[1]-r[0]) + 1
	}
	return n
}
