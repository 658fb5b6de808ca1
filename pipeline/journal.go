package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"
)

// The import journal is an append-only file of JSON lines that makes an import
// exactly-once across crashes. Its first line is a JournalHeader; every other
// line is a JournalEntry. For each input row the importer appends an intent,
// made durable (fsynced) before the write is sent, and an outcome after it.
// A row whose last entry is an intent was in flight when the run stopped: its
// outcome is unknown until reconciled. A crash can leave a torn last line; it
// is cut off when the journal is opened again.

// Journal entry types.
const (
	EntryIntent   = "intent"   // the write is about to be sent
	EntryOK       = "ok"       // the write succeeded (TicketID, Action)
	EntryFail     = "fail"     // the server refused it for good (Code, Message)
	EntryUnknown  = "unknown"  // it may or may not have taken effect; not resent unless asked
	EntryVoid     = "void"     // proven not sent or not applied: the intent is void, send again
	EntryComplete = "complete" // the run finished every row (Row is 0)
)

// JournalHeader identifies the run a journal belongs to.
type JournalHeader struct {
	Version     int               `json:"version"`
	Op          string            `json:"op"`           // create, update, reply
	RunID       string            `json:"run_id"`       // unique per run; part of marker values
	Input       string            `json:"input"`        // the input path as given
	InputSHA256 string            `json:"input_sha256"` // hash of the input's bytes when the run started
	InputSize   int64             `json:"input_size"`
	Started     time.Time         `json:"started"`
	Meta        map[string]string `json:"meta,omitempty"` // results folder, marker field...
}

// JournalEntry is one event of one row.
type JournalEntry struct {
	Type     string    `json:"t"`
	Row      int       `json:"row,omitempty"`
	At       time.Time `json:"at"`
	TicketID int64     `json:"id,omitempty"`
	Action   string    `json:"action,omitempty"` // created, updated, replied
	Code     string    `json:"code,omitempty"`
	Message  string    `json:"msg,omitempty"`
	Key      string    `json:"key,omitempty"` // the marker value a create carried, if any
}

// JournalState is what a journal says so far: the last entry of every row.
type JournalState struct {
	Header   JournalHeader
	Rows     map[int]JournalEntry
	Complete bool // the last entry is EntryComplete
}

// Count returns how many rows' last entry has type t.
func (s *JournalState) Count(t string) int {
	n := 0
	for _, e := range s.Rows {
		if e.Type == t {
			n++
		}
	}
	return n
}

// Journal appends entries durably. Concurrent appends are grouped into one
// write and one fsync (group commit); each call returns only once its own
// entries are on disk. It is safe for concurrent use.
type Journal struct {
	path string
	f    *os.File

	mu      sync.Mutex
	cond    *sync.Cond
	pending []byte
	seq     uint64 // number of Append calls queued
	synced  uint64 // every call up to this one is durable
	syncing bool
	err     error // sticky: once a write failed, the journal is unusable
}

const journalVersion = 1

// ErrJournalExists is returned by CreateJournal when path already holds a
// journal: a journal is only ever appended to, never replaced.
var ErrJournalExists = errors.New("a journal is there already")

// CreateJournal starts a new journal at path with header h, durably, mode
// 0600. It never replaces a journal: when path exists it returns an error
// satisfying errors.Is(err, ErrJournalExists).
func CreateJournal(path string, h JournalHeader) (*Journal, error) {
	h.Version = journalVersion
	line, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if err := createFileAtomic(path, append(line, '\n'), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			err = ErrJournalExists
		}
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	return newJournal(path, f), nil
}

func newJournal(path string, f *os.File) *Journal {
	j := &Journal{path: path, f: f}
	j.cond = sync.NewCond(&j.mu)
	return j
}

// ReadJournal reads the journal at path without opening it for appending.
// It returns an error wrapping os.ErrNotExist when there is none.
func ReadJournal(path string) (*JournalState, error) {
	st, _, err := readJournal(path)
	return st, err
}

// OpenJournal reads the journal at path and opens it for appending: every
// write goes to the end of the file. Only a torn last line left by a crash
// (bytes after the last newline) is cut off; the caller holds the state
// folder's lock (LockStateDir), so no other run is appending.
func OpenJournal(path string) (*Journal, *JournalState, error) {
	st, good, err := readJournal(path)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() > good {
		if err == nil {
			err = f.Truncate(good)
		}
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("journal %s: %w", path, err)
		}
	}
	return newJournal(path, f), st, nil
}

// readJournal parses the journal and returns the length of its intact prefix.
func readJournal(path string) (*JournalState, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("journal %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	st := &JournalState{Rows: map[int]JournalEntry{}}
	var good int64
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// A last line without its newline was torn by a crash: its
			// append never returned, so nothing was sent on its strength.
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("journal %s: %w", path, err)
		}
		if lineNo == 1 {
			if err := json.Unmarshal(line, &st.Header); err != nil || st.Header.Version == 0 {
				return nil, 0, fmt.Errorf("journal %s line 1: not a journal header", path)
			}
			if st.Header.Version != journalVersion {
				return nil, 0, fmt.Errorf("journal %s: version %d, this program reads version %d", path, st.Header.Version, journalVersion)
			}
		} else {
			var e JournalEntry
			if err := json.Unmarshal(bytes.TrimSpace(line), &e); err != nil {
				return nil, 0, fmt.Errorf("journal %s line %d: %v", path, lineNo, err)
			}
			if e.Type == EntryComplete {
				st.Complete = true
			} else {
				st.Complete = false
				st.Rows[e.Row] = e
			}
		}
		good += int64(len(line))
	}
	if good == 0 {
		return nil, 0, fmt.Errorf("journal %s: empty or torn header", path)
	}
	return st, good, nil
}

// Append writes entries and returns once they are durable.
func (j *Journal) Append(entries ...JournalEntry) error {
	var buf []byte
	for _, e := range entries {
		if e.At.IsZero() {
			e.At = time.Now()
		}
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	j.pending = append(j.pending, buf...)
	j.seq++
	mine := j.seq
	for j.synced < mine && j.err == nil {
		if j.syncing {
			j.cond.Wait()
			continue
		}
		// Lead a group: write and fsync everything queued so far.
		j.syncing = true
		data, upto := j.pending, j.seq
		j.pending = nil
		j.mu.Unlock()
		_, err := j.f.Write(data)
		if err == nil {
			err = j.f.Sync()
		}
		j.mu.Lock()
		j.syncing = false
		if err != nil {
			j.err = fmt.Errorf("journal %s: %w", j.path, err)
		} else {
			j.synced = upto
		}
		j.cond.Broadcast()
	}
	return j.err
}

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// Close closes the file. Appends must have returned.
func (j *Journal) Close() error { return j.f.Close() }
