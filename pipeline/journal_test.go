package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestJournalAppendAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := CreateJournal(path, JournalHeader{Op: "create", RunID: "r1", InputSHA256: "abc", Meta: map[string]string{"results": "/x"}})
	if err != nil {
		t.Fatal(err)
	}
	// Many workers append at once: every entry must land exactly once.
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				row := w*100 + i + 2
				if err := j.Append(JournalEntry{Type: EntryIntent, Row: row, Key: "k"}); err != nil {
					t.Error(err)
				}
				if err := j.Append(JournalEntry{Type: EntryOK, Row: row, TicketID: int64(row), Action: "created"}); err != nil {
					t.Error(err)
				}
			}
		}(w)
	}
	wg.Wait()
	if err := j.Append(JournalEntry{Type: EntryIntent, Row: 9999}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal mode: %v %v", fi.Mode(), err)
	}

	j2, st, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Header.RunID != "r1" || st.Header.Meta["results"] != "/x" || st.Header.Version != 1 {
		t.Fatalf("header: %+v", st.Header)
	}
	if len(st.Rows) != 401 || st.Count(EntryOK) != 400 || st.Count(EntryIntent) != 1 || st.Complete {
		t.Fatalf("state: %d rows, %d ok, %d intent, complete %v", len(st.Rows), st.Count(EntryOK), st.Count(EntryIntent), st.Complete)
	}
	if e := st.Rows[102]; e.TicketID != 102 || e.Action != "created" {
		t.Fatalf("row 102: %+v", e)
	}
	if err := j2.Append(JournalEntry{Type: EntryVoid, Row: 9999}, JournalEntry{Type: EntryComplete}); err != nil {
		t.Fatal(err)
	}
	j2.Close()
	st, err = ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Complete || st.Rows[9999].Type != EntryVoid {
		t.Fatalf("after complete: complete=%v row 9999=%+v", st.Complete, st.Rows[9999])
	}
}

func TestJournalTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := CreateJournal(path, JournalHeader{Op: "reply", RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(JournalEntry{Type: EntryIntent, Row: 2}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	// A crash in the middle of a write leaves half a line.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"t":"ok","row":2,"id":`)
	f.Close()

	j, st, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows[2].Type != EntryIntent {
		t.Fatalf("torn outcome must not count: %+v", st.Rows[2])
	}
	if err := j.Append(JournalEntry{Type: EntryOK, Row: 2, TicketID: 7}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	st, err = ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows[2].Type != EntryOK || st.Rows[2].TicketID != 7 {
		t.Fatalf("append after a torn tail: %+v", st.Rows[2])
	}
}

// A journal is only ever appended to: creating one where one is refuses, and
// two handles open on it both append at its end, overwriting nothing.
func TestJournalNeverReplacedOrOverwritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := CreateJournal(path, JournalHeader{Op: "create", RunID: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(JournalEntry{Type: EntryOK, Row: 2, TicketID: 1}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if _, err := CreateJournal(path, JournalHeader{Op: "create", RunID: "second"}); !errors.Is(err, ErrJournalExists) {
		t.Fatalf("creating over a journal: %v, want ErrJournalExists", err)
	}
	a, _, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for row := 3; row < 7; row++ {
		w := a
		if row%2 == 0 {
			w = b
		}
		if err := w.Append(JournalEntry{Type: EntryOK, Row: row, TicketID: int64(row)}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Header.RunID != "first" || len(st.Rows) != 5 {
		t.Fatalf("journal after two writers: run %q, rows %v; want run first and rows 2-6", st.Header.RunID, st.Rows)
	}
}

func TestJournalMissingAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadJournal(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing journal: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("{\"version\":1}\nnot json\n{\"t\":\"ok\",\"row\":1}\n"), 0o600)
	if _, err := ReadJournal(bad); err == nil {
		t.Fatal("a corrupt line in the middle must be an error, not silently skipped")
	}
}

func BenchmarkJournalAppendParallel(b *testing.B) {
	j, err := CreateJournal(filepath.Join(b.TempDir(), "j"), JournalHeader{Op: "create"})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := j.Append(JournalEntry{Type: EntryIntent, Row: 1}); err != nil {
				b.Error(err)
			}
		}
	})
}
