package pipeline

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

func TestSpoolPutPagesRead(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	s, resumed, err := OpenSpool(state, false)
	if err != nil || resumed {
		t.Fatalf("OpenSpool: resumed %v, err %v; want a new snapshot", resumed, err)
	}
	pages := []SpoolPage{
		{Pass: 1, Page: 1, Size: 100, Total: 250, TotalPages: 3},
		{Pass: 0, Page: 2, Size: 100, Total: 250, TotalPages: 3},
		{Pass: 0, Page: 1, Size: 100, Total: 251, TotalPages: 3},
		{Pass: 0, Page: 7, Failed: true},
		{Pass: 0, Page: 0, Size: 0, Total: 0, TotalPages: 0},
	}
	for i, p := range pages {
		if err := s.Put(p, []byte{byte('a' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	want := []SpoolPage{pages[4], pages[2], pages[1], pages[3], pages[0]}
	check := func(s *Spool, when string) {
		t.Helper()
		if got, err := s.Pages(); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: Pages() = %+v, %v\nwant %+v", when, got, err, want)
		}
		for i, p := range pages {
			b, err := s.Read(p)
			if err != nil || string(b) != string(rune('a'+i)) {
				t.Errorf("%s: Read(%+v) = %q, %v", when, p, b, err)
			}
		}
	}
	check(s, "before a sync")
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	log := filepath.Join(s.Dir(), logFile)
	if ps, err := SpoolPages(s.Dir()); err != nil || !reflect.DeepEqual(ps, want) {
		t.Errorf("SpoolPages = %+v, %v", ps, err)
	}
	fi, err := os.Stat(log)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("page log mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}

	// A crash while appending leaves a torn record: it is cut off, and what
	// is put after it is found again.
	good := fi.Size()
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{1, 2, 3, 4, 9, 0, 0, 0, 0, 0})
	f.Close()
	s, resumed, err = OpenSpool(state, false)
	if err != nil || !resumed {
		t.Fatalf("reopen after a torn append: resumed %v, %v", resumed, err)
	}
	check(s, "after a torn append")
	if fi, _ := os.Stat(log); fi.Size() != good {
		t.Errorf("torn tail kept: %d bytes, want %d", fi.Size(), good)
	}
	extra := SpoolPage{Pass: 1, Page: 2, Size: 1, Total: 250, TotalPages: 3}
	pages, want = append(pages, extra), append(want, extra)
	if err := s.Put(extra, []byte{byte('a' + len(pages) - 1)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, _, err = OpenSpool(state, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "after a put past the cut")

	// A record whose body changed (a bad sector) ends the held pages there.
	s.Close()
	b, _ := os.ReadFile(log)
	b[len(b)-1] ^= 0xff
	os.WriteFile(log, b, 0o600)
	pages, want = pages[:len(pages)-1], want[:len(want)-1]
	s, _, err = OpenSpool(state, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "after a corrupt record")
	for _, d := range []string{state, s.Dir()} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v, %v; want 0700", d, fi.Mode().Perm(), err)
		}
	}
}

// An incomplete snapshot of the one-file-per-page layout is not misread as
// holding no pages of a resumable run: it is discarded and named.
func TestSpoolOldLayoutDiscarded(t *testing.T) {
	state := t.TempDir()
	old := filepath.Join(state, snapPrefix+"20260101T000000.000000000Z")
	if err := os.MkdirAll(filepath.Join(old, oldPagesDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, oldPagesDir, "p0-000001.s1.t1.n1.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, resumed, err := OpenSpool(state, false)
	if err != nil || resumed || s.Dir() == old || s.Discarded() != old {
		t.Fatalf("OpenSpool: resumed %v, err %v, discarded %q; want a new snapshot and %s discarded", resumed, err, s.Discarded(), old)
	}
	defer s.Close()
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old snapshot is still there: %v", err)
	}
}

func TestSpoolResumeCompleteFresh(t *testing.T) {
	state := t.TempDir()
	s1, _, err := OpenSpool(state, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.WriteFile("manifest.json", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s1.Put(SpoolPage{Page: 1, Size: 1, Total: 1, TotalPages: 1}, []byte("{}")); err != nil {
		t.Fatal(err)
	}

	// While s1 is open, no other run may use the state folder.
	var le *LockedError
	if _, _, err := OpenSpool(state, false); !errors.As(err, &le) || le.Dir != state {
		t.Fatalf("second open while the first holds the folder: %v, want a *LockedError naming %s", err, state)
	}
	s1.Close()
	// A run killed while writing the COMPLETE mark leaves a temp file.
	completeTemp := filepath.Join(s1.Dir(), "."+completeFile+".tmp-43")
	if err := os.WriteFile(completeTemp, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	// Incomplete: the same snapshot is resumed with its pages.
	s2, resumed, err := OpenSpool(state, false)
	if err != nil || !resumed || s2.Dir() != s1.Dir() {
		t.Fatalf("reopen: %v %v %v; want to resume %s", s2, resumed, err, s1.Dir())
	}
	if ps, _ := s2.Pages(); len(ps) != 1 {
		t.Fatalf("resumed snapshot holds %d pages, want 1", len(ps))
	}
	if _, err := os.Stat(completeTemp); !os.IsNotExist(err) {
		t.Errorf("resumed snapshot kept the temp file of a killed COMPLETE write (%v)", err)
	}

	// Complete: pages dropped, named files kept, next open starts anew.
	if err := s2.Complete(); err != nil {
		t.Fatal(err)
	}
	if ps, _ := s2.Pages(); len(ps) != 0 {
		t.Errorf("completed snapshot still holds %d pages", len(ps))
	}
	if _, err := os.Stat(filepath.Join(s2.Dir(), logFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("completed snapshot kept its page log: %v", err)
	}
	if b, err := s2.ReadFile("manifest.json"); err != nil || string(b) != `{"n":1}` {
		t.Errorf("manifest after Complete: %q, %v", b, err)
	}
	s2.Close()
	s3, resumed, err := OpenSpool(state, false)
	if err != nil || resumed || s3.Dir() == s1.Dir() {
		t.Fatalf("open after complete: %v %v %v; want a new snapshot", s3, resumed, err)
	}
	if _, err := s3.ReadFile("manifest.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("new snapshot has a manifest: %v", err)
	}
	if err := s3.Put(SpoolPage{Page: 1, Size: 1, Total: 1, TotalPages: 1}, []byte("{}")); err != nil {
		t.Fatal(err)
	}

	// Fresh discards the incomplete snapshot, not the completed one.
	s3.Close()
	s4, resumed, err := OpenSpool(state, true)
	if err != nil || resumed || s4.Dir() == s3.Dir() {
		t.Fatalf("fresh open: %v %v %v", s4, resumed, err)
	}
	if _, err := os.Stat(s3.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--fresh left the incomplete snapshot %s: %v", s3.Dir(), err)
	}
	if _, err := os.Stat(s1.Dir()); err != nil {
		t.Errorf("--fresh removed the completed snapshot: %v", err)
	}

	// Completing a newer snapshot prunes the older completed one.
	if err := s4.Complete(); err != nil {
		t.Fatal(err)
	}
	snaps, _ := snapshots(state)
	if len(snaps) != 1 || snaps[0] != filepath.Base(s4.Dir()) {
		t.Errorf("snapshots after second completion: %v, want only %s", snaps, filepath.Base(s4.Dir()))
	}
}

func BenchmarkSpoolPut(b *testing.B) {
	s, _, err := OpenSpool(b.TempDir(), false)
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 150<<10) // a page of 100 tickets
	b.SetBytes(int64(len(body)))
	page := 0
	for b.Loop() {
		page++
		if err := s.Put(SpoolPage{Page: page, Size: 100, Total: 1 << 20, TotalPages: 1 << 14}, body); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSpoolPut100k puts the 1,000 pages of 100k tickets (150 KiB each)
// from 4 workers, as an export does, and syncs at the end: what the fetch
// phase pays for durability.
func BenchmarkSpoolPut100k(b *testing.B) {
	body := make([]byte, 150<<10)
	b.SetBytes(int64(len(body)) * 1000)
	for b.Loop() {
		b.StopTimer()
		s, _, err := OpenSpool(b.TempDir(), false)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for page := 1 + w; page <= 1000; page += 4 {
					if err := s.Put(SpoolPage{Page: page, Size: 100, Total: 100_000, TotalPages: 1000}, body); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := s.Sync(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}
