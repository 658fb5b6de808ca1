package sinks

import (
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// recycler is the memory.Allocator of one Parquet writer's arrow builders.
// The buffers a chunk's arrays release once the chunk is written are kept,
// by power-of-two capacity, and handed out again, cleared, to the next
// chunk's builders, instead of being left to the garbage collector and
// allocated (and zeroed) anew: it holds about one chunk's buffers, so memory
// stays flat. Like the writer, it is not safe for concurrent use.
type recycler struct {
	free [64][][]byte // by log2 of capacity
	mem  memory.GoAllocator
}

const recyclerMin = 4096 // smaller buffers are not worth keeping

func (r *recycler) Allocate(size int) []byte {
	if size < recyclerMin {
		return r.mem.Allocate(size)
	}
	c := bits.Len(uint(size - 1)) // 1<<c is the capacity of the class
	if l := r.free[c]; len(l) > 0 {
		b := l[len(l)-1]
		r.free[c] = l[:len(l)-1]
		clear(b[:cap(b)]) // GoAllocator's buffers come zeroed; arrow may count on it
		return b[:size]
	}
	return r.mem.Allocate(1 << c)[:size]
}

func (r *recycler) Reallocate(size int, b []byte) []byte {
	if cap(b) >= size {
		return b[:size]
	}
	nb := r.Allocate(size)
	copy(nb, b)
	r.Free(b)
	return nb
}

func (r *recycler) Free(b []byte) {
	c := cap(b)
	if c < recyclerMin || c&(c-1) != 0 { // not one of the classes' buffers
		return
	}
	k := bits.Len(uint(c)) - 1
	r.free[k] = append(r.free[k], b[:0])
}
