package pipeline

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// FuzzJournalRead feeds arbitrary bytes to the journal reader, as a crash or
// a damaged disk may leave them. The reader must not panic; a journal it
// accepts must open for appending (a torn tail cut off), read back the same
// rows, and take one more entry on top of them.
func FuzzJournalRead(f *testing.F) {
	header := `{"version":1,"op":"create","run_id":"r1","input":"in.csv","input_sha256":"ab","input_size":3,"started":"2026-11-27T10:00:00Z"}` + "\n"
	intent := `{"t":"intent","row":2,"at":"2026-11-27T10:00:01Z"}` + "\n"
	ok := `{"t":"ok","row":2,"at":"2026-11-27T10:00:02Z","id":7,"action":"created"}` + "\n"
	f.Add([]byte(header + intent + ok))
	f.Add([]byte(header + intent + ok + `{"t":"complete","at":"2026-11-27T10:00:03Z"}` + "\n"))
	f.Add([]byte(header + intent + `{"t":"ok","row":2,"at":"2026-11-27T1`)) // torn tail
	f.Add([]byte(header))
	f.Add([]byte(header[:20]))
	f.Add([]byte(""))
	f.Add([]byte(`{"version":2,"op":"create"}` + "\n"))
	f.Add([]byte(header + "not json\n" + ok))
	f.Add([]byte(header + `{"t":"unknown","row":-1,"at":"0001-01-01T00:00:00Z","code":"outcome_unknown","msg":"\u0000"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "journal.jsonl")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := ReadJournal(path)
		if err != nil {
			return
		}
		j, st2, err := OpenJournal(path)
		if err != nil {
			t.Fatalf("read but not opened: %v", err)
		}
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("read %+v, opened %+v", st, st2)
		}
		e := JournalEntry{Type: EntryIntent, Row: 1 << 20, At: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)}
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
		j.Close()
		st3, err := ReadJournal(path)
		if err != nil {
			t.Fatalf("after an append: %v", err)
		}
		want := len(st.Rows) + 1
		if _, had := st.Rows[e.Row]; had {
			want--
		}
		if st3.Complete || !reflect.DeepEqual(st3.Header, st.Header) || len(st3.Rows) != want {
			t.Fatalf("after an append: %+v, before %+v", st3, st)
		}
		for row, want := range st.Rows {
			if got := st3.Rows[row]; row != e.Row && !reflect.DeepEqual(got, want) {
				t.Fatalf("row %d: %+v after an append, %+v before", row, got, want)
			}
		}
		if got := st3.Rows[e.Row]; got.Type != EntryIntent || !got.At.Equal(e.At) {
			t.Fatalf("the appended entry reads back as %+v", got)
		}
	})
}
