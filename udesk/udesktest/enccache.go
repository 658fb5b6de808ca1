package udesktest

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
)

// encCache keeps the encoded form of the initial data set so that repeated
// exports neither generate nor encode a ticket twice. Tickets are kept in
// blocks of blockSize consecutive ids, each block compressed with S2 (a
// faster Snappy) as one piece: the JSON of neighbouring tickets shares most
// of its bytes, so a block costs about 190 bytes per ticket (about 182 of
// compressed JSON, a 4-byte offset, the block's own overhead), 190 MB for a
// million tickets, against about 960 bytes raw. Decompressing a block costs
// a fraction of generating and encoding its tickets (S2 decodes about twice
// as fast as zstd here, for 30% more bytes). Decoded blocks are kept too, up
// to the same number of bytes (the first in, the first out): a data set of
// a couple of hundred thousand tickets is then served by copying alone, so
// that a benchmark of a client on the same machine measures the client.
//
// Initial tickets never change (a change moves the ticket to Server.over,
// which is encoded afresh), so blocks need no invalidation except when the
// catalog's fields, and so every ticket's custom_fields, change: then the
// whole cache is replaced.
type encCache struct {
	tickets int64 // the initial data set's size
	limit   int64 // compressed bytes kept at most
	bytes   atomic.Int64
	blocks  []atomic.Pointer[encBlock] // by (id-1)/blockSize

	mu        sync.Mutex // guards kept, keptOrder and keptBytes
	kept      map[int]*decodedBlock
	keptOrder []int // the kept blocks, oldest first
	keptBytes int64
}

// minKept decoded blocks are kept whatever their size, so that small pages
// read one after another decompress once.
const minKept = 8

const blockSize = 100

type encBlock struct {
	z    []byte            // S2 block of the tickets' JSON, back to back
	ends [blockSize]uint32 // end of each ticket's JSON in the decoded bytes
}

type decodedBlock struct {
	k    int
	raw  []byte
	ends *[blockSize]uint32
}

func newEncCache(tickets int, limit int64) *encCache {
	return &encCache{tickets: int64(tickets), limit: limit, blocks: make([]atomic.Pointer[encBlock], (tickets+blockSize-1)/blockSize),
		kept: map[int]*decodedBlock{}}
}

// ticket returns the encoded form of initial ticket id (1..tickets), with
// encode writing a block's tickets when the cache lacks them.
func (c *encCache) ticket(id int64, encode func(b []byte, id int64) []byte) []byte {
	k := int((id - 1) / blockSize)
	d := c.decoded(k, encode)
	i := int(id-1) % blockSize
	start := uint32(0)
	if i > 0 {
		start = d.ends[i-1]
	}
	return d.raw[start:d.ends[i]]
}

// holds reports whether initial ticket id's block is kept.
func (c *encCache) holds(id int64) bool {
	k := (id - 1) / blockSize
	return k < int64(len(c.blocks)) && c.blocks[k].Load() != nil
}

// decoded finds block k among the kept ones, else decompresses or builds
// it, and keeps it.
func (c *encCache) decoded(k int, encode func(b []byte, id int64) []byte) *decodedBlock {
	c.mu.Lock()
	d := c.kept[k]
	c.mu.Unlock()
	if d != nil {
		return d
	}

	d = &decodedBlock{k: k}
	if blk := c.blocks[k].Load(); blk != nil {
		raw, err := s2.Decode(make([]byte, blk.ends[blockSize-1]), blk.z)
		if err != nil {
			panic("udesktest: cached block does not decode: " + err.Error())
		}
		d.raw, d.ends = raw, &blk.ends
	} else {
		blk := &encBlock{}
		d.raw = make([]byte, 0, blockSize*1100)
		first := int64(k)*blockSize + 1
		last := min(first+blockSize-1, c.tickets)
		for id := first; id <= first+blockSize-1; id++ {
			if id <= last {
				d.raw = encode(d.raw, id)
			}
			blk.ends[id-first] = uint32(len(d.raw))
		}
		d.ends = &blk.ends
		if c.bytes.Load() < c.limit {
			// Cloned: the encoder's buffer is sized for the worst case.
			blk.z = bytes.Clone(s2.EncodeBetter(nil, d.raw))
			if c.blocks[k].CompareAndSwap(nil, blk) {
				c.bytes.Add(int64(len(blk.z)))
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.kept[k]; !ok {
		c.kept[k] = d
		c.keptOrder = append(c.keptOrder, k)
		c.keptBytes += int64(cap(d.raw))
		for len(c.keptOrder) > minKept && c.keptBytes > c.limit {
			old := c.kept[c.keptOrder[0]]
			delete(c.kept, old.k)
			c.keptBytes -= int64(cap(old.raw))
			c.keptOrder = c.keptOrder[1:]
		}
	}
	return d
}
