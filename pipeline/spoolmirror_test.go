package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// memMirror keeps what a spool mirrors; fail, when set, fails the writes.
type memMirror struct {
	log   bytes.Buffer
	files map[string][]byte
	fail  error
}

func (m *memMirror) Append(off int64, b []byte) error {
	if m.fail != nil {
		return m.fail
	}
	if off != int64(m.log.Len()) {
		return fmt.Errorf("append at %d, have %d", off, m.log.Len())
	}
	m.log.Write(b)
	return nil
}

func (m *memMirror) WriteFile(name string, b []byte) error {
	if m.fail != nil {
		return m.fail
	}
	m.files[name] = append([]byte(nil), b...)
	return nil
}

// A mirror receives the log's durable bytes in order, once, and the named
// files; a spool restored from them holds the same pages; a mirror's
// failure fails the next Sync and Put.
func TestSpoolMirror(t *testing.T) {
	s, _, err := OpenSpool(filepath.Join(t.TempDir(), "a"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := &memMirror{files: map[string][]byte{}}
	s.Mirror(m, 0)
	if err := s.WriteFile("sync.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if err := s.Put(SpoolPage{Page: i, Size: 1}, []byte(fmt.Sprintf("page %d", i))); err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	local, err := os.ReadFile(filepath.Join(s.Dir(), logFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.log.Bytes(), local) || string(m.files["sync.json"]) != "{}" {
		t.Fatalf("mirror holds %d bytes and %q, the spool %d bytes", m.log.Len(), m.files, len(local))
	}

	r, _, err := OpenSpool(filepath.Join(t.TempDir(), "b"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	torn := append(m.log.Bytes(), 1, 2, 3) // a tail no record makes
	if err := r.Restore(func(w io.Writer) error { _, err := w.Write(torn); return err }, m.files); err != nil {
		t.Fatal(err)
	}
	pages, _ := r.Pages()
	body, _ := r.Read(SpoolPage{Page: 4})
	if got, _ := r.ReadFile("sync.json"); len(pages) != 5 || string(body) != "page 4" || string(got) != "{}" || r.LogSize() != int64(len(local)) {
		t.Fatalf("restored %d pages, page 4 %q, sync.json %q, log %d bytes", len(pages), body, got, r.LogSize())
	}

	m.fail = errors.New("bucket gone")
	if err := s.Put(SpoolPage{Page: 6}, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); !errors.Is(err, m.fail) {
		t.Fatalf("sync with a failing mirror: %v", err)
	}
	if err := s.Put(SpoolPage{Page: 7}, []byte("x")); !errors.Is(err, m.fail) {
		t.Fatalf("put after a failed mirror: %v", err)
	}
	if err := s.WriteFile("x.json", nil); !errors.Is(err, m.fail) {
		t.Fatalf("named file with a failing mirror: %v", err)
	}
}
