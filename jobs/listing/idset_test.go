package listing

import (
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

func TestIDSetMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s, o, want := newIDSet(), newIDSet(), map[int64]bool{}
	for range 20000 {
		var id int64
		switch r.IntN(3) {
		case 0: // dense, with repeats
			id = r.Int64N(5000)
		case 1: // sparse and huge
			id = r.Int64()
		default: // negative
			id = -r.Int64N(1 << 40)
		}
		if got := s.add(id); got == want[id] {
			t.Fatalf("add(%d) = %v, want %v", id, got, !want[id])
		}
		want[id] = true
		o.add(id ^ 1) // overlaps s on half the ids
	}
	for id := range want {
		if !s.has(id) {
			t.Fatalf("has(%d) = false after add", id)
		}
	}
	for _, id := range []int64{5000, -1 << 41, 1<<62 + 3} {
		if s.has(id) != want[id] {
			t.Fatalf("has(%d) = %v, want %v", id, s.has(id), want[id])
		}
	}
	if s.len() != len(want) {
		t.Fatalf("len = %d, want %d", s.len(), len(want))
	}
	union := map[int64]bool{}
	for id := range want {
		union[id], union[id^1] = true, true
	}
	s.addAll(o)
	if s.len() != len(union) {
		t.Fatalf("len after addAll = %d, want %d", s.len(), len(union))
	}
	for id := range union {
		if !s.has(id) {
			t.Fatalf("has(%d) = false after addAll", id)
		}
	}
	sorted := slices.Sorted(maps.Keys(union))
	if got := s.sorted(); !slices.Equal(got, sorted) {
		t.Fatalf("sorted: %d ids, want %d (first %v, want %v)", len(got), len(sorted), got[:3], sorted[:3])
	}
}

// The sets Fetch and Render keep of every ticket id must stay about a bit
// per ticket: a map there took tens of bytes per ticket, which made an
// export's peak memory grow with the number of tickets.
func TestIDSetBytesPerID(t *testing.T) {
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newIDSet()
	for id := int64(1); id <= n; id++ {
		s.add(id + 1_000_000_000) // ids as the API numbers them, dense from far above 0
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perID := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	if s.len() != n {
		t.Fatalf("len = %d, want %d", s.len(), n)
	}
	if perID > 0.5 {
		t.Fatalf("%.2f bytes of heap per id, want about 1/8", perID)
	}
	runtime.KeepAlive(s)
}
