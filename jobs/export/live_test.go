package export

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/listing"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/pipeline/pipelinetest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// holdEndCheck holds the end check (the second request for page 1) until
// release is closed.
type holdEndCheck struct {
	API
	release chan struct{}
	mu      sync.Mutex
	page1   int
}

func (h *holdEndCheck) PageHead(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.PageHead, error) {
	if err := h.hold(ctx, page); err != nil {
		return nil, err
	}
	return h.API.PageHead(ctx, l, page, perPage)
}

func (h *holdEndCheck) Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error) {
	if err := h.hold(ctx, page); err != nil {
		return nil, err
	}
	return h.API.Page(ctx, l, page, perPage)
}

func (h *holdEndCheck) hold(ctx context.Context, page int) error {
	if page != 1 {
		return nil
	}
	h.mu.Lock()
	h.page1++
	n := h.page1
	h.mu.Unlock()
	if n == 2 {
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// TestLiveRenderOverlapsFetch holds the fetch's last request and waits for
// the live render to write tickets meanwhile: the render does not wait for
// the fetch to end. The outputs, committed after the fetch, hold every
// ticket once.
func TestLiveRenderOverlapsFetch(t *testing.T) {
	sim, c := newSim(t, udesktest.Options{Tickets: 1000, Seed: 3})
	out := filepath.Join(t.TempDir(), "t.jsonl")
	o := &Options{Tenant: sim.URL(), Outputs: []string{out}, Observer: pipeline.Quiet{}}
	sp, _, err := pipeline.OpenSpool(filepath.Join(t.TempDir(), "state"), false)
	if err != nil {
		t.Fatal(err)
	}
	x := listing.NewReader(sp, udesk.Listing{}, nil, 4)
	lr := startLive(context.Background(), o, x)
	api := &holdEndCheck{API: c, release: make(chan struct{})}

	overlapped := make(chan bool, 1)
	go func() {
		defer close(api.release)
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			lr.mu.Lock()
			written := lr.pending
			lr.mu.Unlock()
			if written >= 500 { // a batch of the render
				overlapped <- true
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		overlapped <- false
	}()
	prog := pipeline.Quiet{}.Phase("", "", 0)
	res, _, err := x.FetchWithCatalog(context.Background(), api, prog, listing.Hooks{OnCatalog: lr.catalog})
	if err != nil {
		lr.stop()
		t.Fatal(err)
	}
	if !<-overlapped {
		t.Error("nothing was written while the end check was held: the render waited for the fetch")
	}
	rs, _, rendered, err := lr.finish(res, func() pipeline.Progress { return prog })
	if err != nil || !rendered {
		t.Fatalf("finish: rendered %v, %v", rendered, err)
	}
	if rs.Unique != 1000 || rs.Duplicates != 0 || rs.LastPass != 1000 {
		t.Errorf("render stats %+v, want 1000 tickets once", rs)
	}
	if lines := strings.Count(readFile(t, out), "\n"); lines != 1000 {
		t.Errorf("%d lines written, want 1000", lines)
	}
}

// TestLiveRenderAbandonedWhenReadAgain: tickets deleted while the listing
// is read make the export read it again; the live render of the first pass
// is dropped and the outputs hold the last pass's tickets, each once, and
// no temporary file is left. Stdout, which cannot take back what it was
// given, gets every ticket once too.
func TestLiveRenderAbandonedWhenReadAgain(t *testing.T) {
	for _, stdout := range []bool{false, true} {
		t.Run(fmt.Sprint("stdout=", stdout), func(t *testing.T) {
			sim, c := newSim(t, udesktest.Options{Tickets: 1200, Seed: 5, Churn: udesktest.Churn{Every: 4, Delete: 3}})
			dir := t.TempDir()
			out := filepath.Join(dir, "t.jsonl")
			opts := Options{Tenant: sim.URL(), Outputs: []string{out}, Observer: &pipelinetest.Log{}, Concurrency: 1}
			var buf bytes.Buffer
			if stdout {
				opts.Outputs, opts.Stdout = append(opts.Outputs, "-"), &buf
			}
			rep, err := Run(context.Background(), c, opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Facts["passes"] < 2 {
				t.Fatalf("facts %v: the listing was not read again; the test proves nothing", rep.Facts)
			}
			checkOnce(t, sim, readFile(t, out), rep.Written)
			if stdout {
				checkOnce(t, sim, buf.String(), rep.Written)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != "t.jsonl" && e.Name() != ".udesk-etl" {
					t.Errorf("left in the output folder: %s", e.Name())
				}
			}
		})
	}
}

// checkOnce fails unless the JSON lines hold written tickets, each once,
// among them every ticket sim still has.
func checkOnce(t *testing.T, sim *udesktest.Server, jsonl string, written int64) {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		id, _, _ := strings.Cut(line, ",")
		if seen[id] {
			t.Errorf("%s written twice", id)
		}
		seen[id] = true
	}
	if int64(len(seen)) != written {
		t.Errorf("%d lines, report says %d written", len(seen), written)
	}
	for _, tk := range sim.Tickets() {
		if key := `{"id":` + strconv.FormatInt(tk.ID, 10); !seen[key] {
			t.Errorf("ticket %d exists but was not written", tk.ID)
		}
	}
}

// TestLiveRenderOutputFails: an output that cannot be created (its temp
// file's name too long for the file system) fails the export with the
// reason, after the fetch, and leaves no file.
func TestLiveRenderOutputFails(t *testing.T) {
	sim, c := newSim(t, udesktest.Options{Tickets: 300, Seed: 6})
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("n", 248)+".csv") // 252 bytes: the name itself fits
	_, err := Run(context.Background(), c, Options{Tenant: sim.URL(), Outputs: []string{filepath.Join(dir, "ok.jsonl"), long}})
	if err == nil || !strings.Contains(err.Error(), "file name too long") {
		t.Fatalf("err = %v, want the temp file's name too long", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != ".udesk-etl" {
			t.Errorf("left in the output folder: %s", e.Name())
		}
	}
}
