package dataset

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// Of two syncs committing one table through a SQL catalog, the one whose
// swap finds the table's row moved on loses (*ConflictError) and nothing of
// it is visible: the catalog's conditional UPDATE is the commit.
func TestSQLCatalogLostSwapIsAConflict(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	cat := WithCatalog(CatalogConfig{URL: "sqlite:" + filepath.Join(t.TempDir(), "catalog.db")})
	open := func() *Store {
		s, err := Open(context.Background(), dir, cat)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	first, second := open(), open()
	commitRun(t, first, 0, feed(tk(1, "a", nil)), nil, Options{})

	// The first sync stops with its changes metadata written, before its
	// swap; the second commits a whole run meanwhile.
	paused, resume, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		_, err := Commit(context.Background(), first, feed(tk(1, "b", nil)), nil, Options{Started: runAt(1), Catalog: testFields(), TempDir: t.TempDir(),
			Pause: func(p string) {
				if p == "metadata-created:"+TableChanges {
					close(paused)
					<-resume
				}
			}})
		done <- err
	}()
	<-paused
	commitRun(t, second, 2, feed(tk(1, "c", nil)), nil, Options{})
	close(resume)
	var ce *ConflictError
	if err := <-done; !errors.As(err, &ce) || ce.Table != TableChanges {
		t.Fatalf("the sync whose swap lost: %v, want a conflict on %s", err, TableChanges)
	}
	runs, err := open().Published(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Run != RunID(runAt(0)) || runs[1].Run != RunID(runAt(2)) {
		t.Fatalf("published runs %+v: want runs 0 and 2 only", runs)
	}
}
