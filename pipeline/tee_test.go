package pipeline

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

// recorder is a RowWriter that logs what is done to it, failing where told
// (writers fail on full disks and the like, which a test cannot produce).
type recorder struct {
	name       string
	log        *[]string
	mu         *sync.Mutex
	rows       int
	failCommit bool
	failWrite  bool
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.log = append(*r.log, r.name+" "+s)
}

func (r *recorder) WriteRows(rows []Row) error {
	if r.failWrite {
		return errors.New(r.name + " is full")
	}
	r.rows += len(rows)
	return nil
}

func (r *recorder) Commit() error {
	if r.failCommit {
		r.note("commit failed")
		return errors.New(r.name + " did not commit")
	}
	r.note("commit")
	return nil
}

func (r *recorder) Abort() error { r.note("abort"); return nil }

func recorders(names ...string) ([]*recorder, *[]string) {
	log, mu := &[]string{}, &sync.Mutex{}
	var rs []*recorder
	for _, n := range names {
		rs = append(rs, &recorder{name: n, log: log, mu: mu})
	}
	return rs, log
}

func writers(rs []*recorder) []RowWriter {
	ws := make([]RowWriter, len(rs))
	for i, r := range rs {
		ws[i] = r
	}
	return ws
}

func TestTeeWritesEveryRowToEveryWriterAndCommitsInOrder(t *testing.T) {
	rs, log := recorders("a", "b", "c")
	w := Tee(writers(rs)...)
	for range 3 {
		if err := w.WriteRows(make([]Row, 7)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.rows != 21 {
			t.Errorf("%s got %d rows, want 21", r.name, r.rows)
		}
	}
	if want := []string{"a commit", "b commit", "c commit"}; !slices.Equal(*log, want) {
		t.Errorf("log %q, want %q", *log, want)
	}
}

func TestTeeAbortsTheRestWhenACommitFails(t *testing.T) {
	rs, log := recorders("originals", "output", "other")
	rs[0].failCommit = true
	err := Tee(writers(rs)...).Commit()
	if err == nil || err.Error() != "originals did not commit" {
		t.Errorf("commit: %v", err)
	}
	if want := []string{"originals commit failed", "output abort", "other abort"}; !slices.Equal(*log, want) {
		t.Errorf("log %q, want %q: nothing may be committed after a failure", *log, want)
	}
}

func TestTeeReportsAWriteFailure(t *testing.T) {
	rs, log := recorders("a", "b")
	rs[1].failWrite = true
	w := Tee(writers(rs)...)
	if err := w.WriteRows(make([]Row, 1)); err == nil || err.Error() != "b is full" {
		t.Errorf("write: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(*log)
	if want := []string{"a abort", "b abort"}; !slices.Equal(*log, want) {
		t.Errorf("log %q, want %q", *log, want)
	}
}
