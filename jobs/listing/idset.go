package listing

import (
	"math/bits"
	"slices"
)

// idSet is a set of ticket ids as a sparse paged bitset: ids are dense
// positive integers in practice, so it takes about a bit per id where a map
// takes tens of bytes, and any int64 still fits.
type idSet struct {
	pages map[int64]*[idPageWords]uint64 // by id >> idPageShift
	n     int
}

const (
	idPageShift = 12 // 4096 ids, 512 bytes a page
	idPageWords = 1 << idPageShift / 64
)

func newIDSet() *idSet { return &idSet{pages: map[int64]*[idPageWords]uint64{}} }

// has reports whether id is in the set.
func (s *idSet) has(id int64) bool {
	p := s.pages[id>>idPageShift]
	b := id & (1<<idPageShift - 1)
	return p != nil && p[b/64]&(1<<(b%64)) != 0
}

// add puts id in the set and reports whether it was new.
func (s *idSet) add(id int64) bool {
	p := s.pages[id>>idPageShift]
	if p == nil {
		p = new([idPageWords]uint64)
		s.pages[id>>idPageShift] = p
	}
	b := id & (1<<idPageShift - 1)
	w, bit := &p[b/64], uint64(1)<<(b%64)
	if *w&bit != 0 {
		return false
	}
	*w |= bit
	s.n++
	return true
}

// addAll puts every id of o in the set.
func (s *idSet) addAll(o *idSet) {
	for k, op := range o.pages {
		p := s.pages[k]
		if p == nil {
			p = new([idPageWords]uint64)
			s.pages[k] = p
		}
		for i, w := range op {
			s.n += bits.OnesCount64(w &^ p[i])
			p[i] |= w
		}
	}
}

// len is how many ids the set holds.
func (s *idSet) len() int { return s.n }

// sorted lists the set's ids, lowest first.
func (s *idSet) sorted() []int64 {
	keys := make([]int64, 0, len(s.pages))
	for k := range s.pages {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ids := make([]int64, 0, s.n)
	for _, k := range keys {
		for i, w := range s.pages[k] {
			for w != 0 {
				b := int64(bits.TrailingZeros64(w))
				ids = append(ids, k<<idPageShift|int64(i*64)+b)
				w &= w - 1
			}
		}
	}
	return ids
}
