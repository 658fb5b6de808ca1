package pipeline

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"sort"
	"sync"
	"time"
)

// A pageLog is the Spool's one append-only file of pages. It starts with
// logMagic; each record is a header of eight little-endian uint32 (checksum,
// body length, pass, page, size, total, total pages, flags) and the body. The
// checksum (CRC-32C) covers the header after it and the body, so a record
// torn by a crash is found and cut off, with everything after it, when the
// log is opened again.
type pageLog struct {
	mu       sync.Mutex
	f        *os.File // nil once closed or dropped
	path     string
	end      int64 // where the next record goes
	index    map[pageKey]logEntry
	unsynced int64 // bytes appended since the last fsync began
	synced   time.Time
	// A group's fsync runs in the background, so that neither the puts
	// nor the reads of a render wait for the disk: syncing is set while it
	// runs (idle is signalled when it ends), syncErr holds its failure for
	// the next put or sync.
	syncing bool
	idle    *sync.Cond
	syncErr error
	// mirror, when set, receives each durable range of the log once:
	// mirrored is how far it holds the log.
	mirror   SpoolMirror
	mirrored int64
}

type pageKey struct{ pass, page int }

type logEntry struct {
	page SpoolPage
	off  int64 // of the body
	n    int
}

const (
	logMagic  = "udesk-etl pages 1\n"
	logHeader = 32
	logFailed = 1 // flags bit: the body says why the page failed

	// A group's fsync comes after this many bytes or this long since the
	// last one, whichever is first: a crash loses at most one group's pages.
	groupBytes = 16 << 20
	groupAge   = time.Second

	maxLogBody = 1 << 30 // no page is near this: a longer length is garbage
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// openPageLog opens (creating) the log at path, indexes its whole records and
// cuts off anything after the last one.
func openPageLog(path string) (*pageLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	l := &pageLog{f: f, path: path, synced: time.Now()}
	l.idle = sync.NewCond(&l.mu)
	if l.index, l.end, err = scanPageLog(f); err == nil {
		if l.end == 0 {
			_, err = f.WriteAt([]byte(logMagic), 0)
			l.end = int64(len(logMagic))
			l.unsynced = l.end
		} else {
			err = f.Truncate(l.end)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// scanPageLog indexes the whole records of a log and returns where they end
// (0 for an empty file: no magic yet).
func scanPageLog(r io.Reader) (map[pageKey]logEntry, int64, error) {
	index := map[pageKey]logEntry{}
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(logMagic))
	if n, err := io.ReadFull(br, magic); n == 0 && err == io.EOF {
		return index, 0, nil
	} else if err != nil || string(magic) != logMagic {
		if err == io.ErrUnexpectedEOF && logMagic[:n] == string(magic[:n]) {
			return index, 0, nil // torn while created
		}
		return nil, 0, errors.New("not a page log of this version")
	}
	end := int64(len(logMagic))
	var h [logHeader]byte
	var body []byte
	for {
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return index, end, nil // the end, or a torn header
		}
		var v [8]uint32
		for i := range v {
			v[i] = binary.LittleEndian.Uint32(h[4*i:])
		}
		if v[1] > maxLogBody {
			return index, end, nil // garbage where a header should be
		}
		if int(v[1]) > cap(body) {
			body = make([]byte, v[1])
		}
		body = body[:v[1]]
		if _, err := io.ReadFull(br, body); err != nil {
			return index, end, nil
		}
		if crc32.Update(crc32.Checksum(h[4:], castagnoli), castagnoli, body) != v[0] {
			return index, end, nil
		}
		p := SpoolPage{Pass: int(v[2]), Page: int(v[3]), Size: int(v[4]), Total: int(v[5]), TotalPages: int(v[6]), Failed: v[7]&logFailed != 0}
		index[pageKey{p.Pass, p.Page}] = logEntry{page: p, off: end + logHeader, n: len(body)}
		end += logHeader + int64(len(body))
	}
}

func (l *pageLog) put(p SpoolPage, body []byte) error {
	var flags uint32
	if p.Failed {
		flags = logFailed
	}
	v := [8]uint32{0, 0, 0, 0, 0, 0, 0, flags}
	for i, n := range []int{len(body), p.Pass, p.Page, p.Size, p.Total, p.TotalPages} {
		if n < 0 || n > math.MaxUint32 {
			return fmt.Errorf("page %d (pass %d): a count out of range: %d", p.Page, p.Pass, n)
		}
		v[i+1] = uint32(n)
	}
	var h [logHeader]byte
	for i := 1; i < len(v); i++ {
		binary.LittleEndian.PutUint32(h[4*i:], v[i])
	}
	binary.LittleEndian.PutUint32(h[:], crc32.Update(crc32.Checksum(h[4:], castagnoli), castagnoli, body))

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return os.ErrClosed
	}
	if l.syncErr != nil {
		return l.syncErr
	}
	if _, err := l.f.WriteAt(h[:], l.end); err != nil {
		return err
	}
	if _, err := l.f.WriteAt(body, l.end+logHeader); err != nil {
		return err
	}
	l.index[pageKey{p.Pass, p.Page}] = logEntry{page: p, off: l.end + logHeader, n: len(body)}
	l.end += logHeader + int64(len(body))
	l.unsynced += logHeader + int64(len(body))
	if !l.syncing && (l.unsynced >= groupBytes || time.Since(l.synced) >= groupAge) {
		l.syncing, l.unsynced, l.synced = true, 0, time.Now()
		go l.background(l.f, l.mirror, l.mirrored, l.end)
	}
	return nil
}

// background makes what f holds durable, as a group's fsync, then copies
// the durable range [from, to) to the mirror m (if any).
func (l *pageLog) background(f *os.File, m SpoolMirror, from, to int64) {
	err := f.Sync()
	if err == nil && m != nil {
		err = mirrorRange(f, m, from, to)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil && l.syncErr == nil {
		l.syncErr = err
	}
	if err == nil && m != nil {
		l.mirrored = to
	}
	l.syncing = false
	l.idle.Broadcast()
}

// mirrorRange hands the log's bytes [from, to) to m.
func mirrorRange(f *os.File, m SpoolMirror, from, to int64) error {
	if to <= from {
		return nil
	}
	b := make([]byte, to-from)
	if _, err := f.ReadAt(b, from); err != nil {
		return err
	}
	if err := m.Append(from, b); err != nil {
		return fmt.Errorf("mirroring the pages: %w", err)
	}
	return nil
}

// sync makes every page put so far durable.
func (l *pageLog) sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waitIdle()
	if l.f == nil {
		return os.ErrClosed
	}
	if l.syncErr != nil {
		return l.syncErr
	}
	if l.unsynced > 0 {
		if err := l.f.Sync(); err != nil {
			return err
		}
		l.unsynced, l.synced = 0, time.Now()
	}
	if l.mirror != nil && l.mirrored < l.end {
		if err := mirrorRange(l.f, l.mirror, l.mirrored, l.end); err != nil {
			l.syncErr = err
			return err
		}
		l.mirrored = l.end
	}
	return nil
}

// waitIdle waits, with l.mu held, for a background fsync to end.
func (l *pageLog) waitIdle() {
	for l.syncing {
		l.idle.Wait()
	}
}

// pages lists the indexed pages ordered by pass, then page.
func (l *pageLog) pages() []SpoolPage {
	l.mu.Lock()
	out := make([]SpoolPage, 0, len(l.index))
	for _, e := range l.index {
		out = append(out, e.page)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pass != out[j].Pass {
			return out[i].Pass < out[j].Pass
		}
		return out[i].Page < out[j].Page
	})
	return out
}

func (l *pageLog) read(pass, page int) ([]byte, error) {
	l.mu.Lock()
	e, ok := l.index[pageKey{pass, page}]
	f := l.f
	l.mu.Unlock()
	if !ok || f == nil {
		return nil, fmt.Errorf("page %d (pass %d): %w", page, pass, os.ErrNotExist)
	}
	body := make([]byte, e.n)
	if _, err := f.ReadAt(body, e.off); err != nil {
		return nil, fmt.Errorf("%s: page %d (pass %d): %w", l.path, page, pass, err)
	}
	return body, nil
}

// close closes the file (nothing else is made durable).
func (l *pageLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waitIdle()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// drop closes and removes the log: its pages are no longer held.
func (l *pageLog) drop() error {
	if err := l.close(); err != nil {
		return err
	}
	l.mu.Lock()
	l.index = map[pageKey]logEntry{}
	l.mu.Unlock()
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// SpoolPages lists the pages held in a snapshot folder, read only (a test
// or a tool may look while no run holds the state folder's lock).
func SpoolPages(snapDir string) ([]SpoolPage, error) {
	f, err := os.Open(snapDir + string(os.PathSeparator) + logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	index, _, err := scanPageLog(f)
	if err != nil {
		return nil, err
	}
	l := &pageLog{index: index}
	return l.pages(), nil
}
