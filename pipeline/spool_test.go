package pipeline

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
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
	// An interrupted write leaves a temp file: it is not a held page.
	if err := os.WriteFile(filepath.Join(s.Dir(), pagesDir, ".p0-000003.s1.t1.n1.json.tmp-123"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pages()
	if err != nil {
		t.Fatal(err)
	}
	want := []SpoolPage{pages[4], pages[2], pages[1], pages[3], pages[0]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Pages() = %+v\nwant %+v", got, want)
	}
	for i, p := range pages {
		b, err := s.Read(p)
		if err != nil || string(b) != string(rune('a'+i)) {
			t.Errorf("Read(%+v) = %q, %v", p, b, err)
		}
	}
	fi, err := os.Stat(filepath.Join(s.Dir(), pagesDir, pages[0].fileName()))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("page file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	for _, d := range []string{state, s.Dir()} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v, %v; want 0700", d, fi.Mode().Perm(), err)
		}
	}
}

func TestSpoolPageNames(t *testing.T) {
	for _, bad := range []string{"p0-1.json", "x0-000001.s1.t1.n1.json", "p0-000001.s1.t1.json", "p0-000001.s1.t1.n1.json.tmp-9",
		"p0-000001.x1.t1.n1.json", "p-1-000001.s1.t1.n1.json", "p0-000001.s-1.t1.n1.json", "p0-000001.oops.json"} {
		if p, ok := parsePageName(bad); ok {
			t.Errorf("parsePageName(%q) = %+v, accepted", bad, p)
		}
	}
	p := SpoolPage{Pass: 12, Page: 1234567, Size: 3, Total: 45, TotalPages: 678}
	if got, ok := parsePageName(p.fileName()); !ok || got != p {
		t.Errorf("round trip of %q: %+v, %v", p.fileName(), got, ok)
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
	// A run killed while writing a page, or the COMPLETE mark, leaves a temp file.
	if err := os.WriteFile(filepath.Join(s1.Dir(), pagesDir, ".p0-000002.s1.t1.n1.json.tmp-42"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
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
	if entries, _ := os.ReadDir(filepath.Join(s2.Dir(), pagesDir)); len(entries) != 1 {
		t.Errorf("resumed snapshot kept a killed write's temp file: %v", entries)
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
}
