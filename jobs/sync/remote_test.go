package sync

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/pipeline/pipelinetest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// watched is an API that calls onPage before each page request and onTicket
// before each lookup by id, with their counts so far.
type watched struct {
	API
	pages, tickets   atomic.Int64
	onPage, onTicket func(n int64)
}

func (w *watched) Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error) {
	if n := w.pages.Add(1); w.onPage != nil {
		w.onPage(n)
	}
	return w.API.Page(ctx, l, page, perPage)
}

func (w *watched) PageHead(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.PageHead, error) {
	if n := w.pages.Add(1); w.onPage != nil {
		w.onPage(n)
	}
	return w.API.PageHead(ctx, l, page, perPage)
}

func (w *watched) Ticket(ctx context.Context, id int64) (*udesk.Ticket, error) {
	if n := w.tickets.Add(1); w.onTicket != nil {
		w.onTicket(n)
	}
	return w.API.Ticket(ctx, id)
}

// remoteKeys lists the run's state objects beside the dataset.
func remoteKeys(t *testing.T, target string) []string {
	t.Helper()
	s, err := dataset.Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	objs, err := s.ListAside(context.Background(), remotePrefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, strings.TrimPrefix(o.Key, remotePrefix))
	}
	return keys
}

// remotePagesHeld rebuilds the remote log in a folder and lists its pages.
func remotePagesHeld(t *testing.T, target string) int {
	t.Helper()
	s, err := dataset.Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := &remoteState{store: s, ctx: context.Background()}
	_, _, segs, _, err := r.read()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "pages.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.copySegments(segs)(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pages, err := pipeline.SpoolPages(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(pages)
}

// A run on a bucket writes its state beside the dataset as it goes: a run
// killed during its fetch is resumed from an empty local folder (another
// machine) as the same run, fetching only the pages not saved, and the
// state is removed once the run is committed.
func TestSyncStateBesideABucketResumesElsewhere(t *testing.T) {
	bucket, _ := datasettest.StartS3(t)
	target := bucket + "/state/tickets"
	tn := newTenant(t, udesktest.Options{Tickets: 3000, Seed: 21, Latency: 60 * time.Millisecond})
	opts := tn.options(target)
	opts.Concurrency = 1
	opts.StateDir = filepath.Join(t.TempDir(), "machine-a")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var during []string
	var once gosync.Once
	api := &watched{API: tn.client}
	api.onPage = func(n int64) {
		// Page 1, then the last pages down: past a group's second, the
		// state holds segments; cancel a few pages later.
		if n == 24 {
			once.Do(func() { during = remoteKeys(t, target) })
		}
		if n == 27 {
			cancel()
		}
	}
	start := time.Now()
	opts.Now = func() time.Time { return start }
	if _, err := Run(ctx, api, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if !contains(during, stateFile) || !hasPrefix(during, "pages/") {
		t.Fatalf("state objects during the fetch: %q, want sync.json and pages/", during)
	}
	held := remotePagesHeld(t, target)
	if held < 20 {
		t.Fatalf("%d pages in the remote state after 26 read", held)
	}
	fetchedA := api.pages.Load()

	lg := &pipelinetest.Log{}
	opts.StateDir = filepath.Join(t.TempDir(), "machine-b") // an empty disk
	opts.Observer = lg
	opts.Now = func() time.Time { return start.Add(10 * time.Minute) }
	b := &watched{API: tn.client}
	rep, err := Run(context.Background(), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Run.Run != dataset.RunID(start) || rep.Run.Counts != (dataset.Counts{Tickets: 3000, Inserted: 3000}) {
		t.Fatalf("resumed run %s %+v, want run %s of 3000 tickets", rep.Run.Run, rep.Run.Counts, dataset.RunID(start))
	}
	// Page 1 is read again at the end of a pass (its check), every other
	// page only if not held.
	if want := int64(udesk.ListingRequests(3000) - 1 - held); b.pages.Load() > want+1 || b.pages.Load() < want-1 {
		t.Fatalf("machine B read %d pages with %d held (A read %d), want %d", b.pages.Load(), held, fetchedA, want)
	}
	if !strings.Contains(lg.String(), "state was read from "+strings.TrimSuffix(target, "/")+"/_udesk/state/") {
		t.Errorf("no line naming the state read:\n%s", lg)
	}
	if keys := remoteKeys(t, target); len(keys) != 0 {
		t.Fatalf("state left after the commit: %q", keys)
	}
	if runs := published(t, target); len(runs) != 1 {
		t.Fatalf("%d runs published", len(runs))
	}
}

func contains(keys []string, key string) bool {
	for _, k := range keys {
		if k == key {
			return true
		}
	}
	return false
}

func hasPrefix(keys []string, prefix string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// The lookups of vanished tickets are saved as batches complete: a run
// killed during them and resumed elsewhere asks only for the rest.
func TestSyncVanishedLookupsAreNotRepeated(t *testing.T) {
	bucket, _ := datasettest.StartS3(t)
	target := bucket + "/vanished"
	tn := newTenant(t, udesktest.Options{Tickets: 600, Seed: 22})
	opts := tn.options(target)
	opts.StateDir = filepath.Join(t.TempDir(), "first")
	tn.syncOK(t, opts)
	for id := int64(100); id < 350; id++ {
		tn.DeleteTicket(id)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api := &watched{API: tn.client}
	api.onTicket = func(n int64) {
		if n == 150 {
			cancel()
		}
	}
	opts.Concurrency = 1
	opts.StateDir = filepath.Join(t.TempDir(), "machine-a")
	if _, err := Run(ctx, api, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if !contains(remoteKeys(t, target), vanishedFile) {
		t.Fatalf("no %s in the state: %q", vanishedFile, remoteKeys(t, target))
	}

	opts.StateDir = filepath.Join(t.TempDir(), "machine-b")
	b := &watched{API: tn.client}
	rep, err := Run(context.Background(), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Run.Counts.Deleted != 250 || rep.Run.Counts.Tickets != 350 {
		t.Fatalf("counts %+v, want 250 deleted, 350 tickets", rep.Run.Counts)
	}
	if got := b.tickets.Load(); got != 250-vanishedBatch {
		t.Fatalf("the resumed run looked up %d tickets; %d of 250 were answered before the kill", got, vanishedBatch)
	}
}

// A state in the bucket that another version, tenant or selector wrote is
// discarded, saying why, and the run starts over.
func TestSyncStateOfAnotherRunIsDiscarded(t *testing.T) {
	bucket, _ := datasettest.StartS3(t)
	tn := newTenant(t, udesktest.Options{Tickets: 250, Seed: 23})
	for _, c := range []struct {
		name string
		edit func(st *state)
		why  string
	}{
		{"version", func(st *state) { st.Version = 99 }, "it was written by another version of udesk-etl (state version 99"},
		{"tenant", func(st *state) { st.URL = "https://other.udesk.cn" }, "it is another tenant's (https://other.udesk.cn)"},
		{"selector", func(st *state) { st.Selector = "filter 12" }, "it listed filter 12, this run lists all"},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := bucket + "/other-" + c.name
			opts := tn.options(target)
			opts.StateDir = filepath.Join(t.TempDir(), "state")
			st := &state{Version: stateVersion, URL: tn.URL(), Dataset: target, Selector: "all", Started: time.Now().UTC().Truncate(time.Second), UUID: "0123456789abcdef"}
			c.edit(st)
			s, err := dataset.Open(context.Background(), target)
			if err != nil {
				t.Fatal(err)
			}
			r := &remoteState{store: s, ctx: context.Background()}
			b, _ := json.MarshalIndent(st, "", "  ")
			if err := r.WriteFile(stateFile, b); err != nil {
				t.Fatal(err)
			}
			if err := r.Append(0, []byte("udesk-etl pages 1\n")); err != nil {
				t.Fatal(err)
			}
			s.Close()

			lg := &pipelinetest.Log{}
			opts.Observer = lg
			rep, req := tn.syncOK(t, opts)
			if rep.Run.Counts.Tickets != 250 || req != udesk.ListingRequests(250) {
				t.Fatalf("run %+v, %d requests", rep.Run.Counts, req)
			}
			if !strings.Contains(lg.String(), "cannot be resumed ("+c.why) {
				t.Fatalf("no line saying %q:\n%s", c.why, lg)
			}
			if rep.Run.UUID == st.UUID {
				t.Fatalf("the other state's run was resumed")
			}
			if keys := remoteKeys(t, target); len(keys) != 0 {
				t.Fatalf("state left: %q", keys)
			}
		})
	}
}

// A run whose guard fails (it lost the dataset's lease) stops writing its
// state and fails; nothing is committed.
func TestSyncStateStopsWhenTheGuardFails(t *testing.T) {
	bucket, _ := datasettest.StartS3(t)
	target := bucket + "/guarded"
	tn := newTenant(t, udesktest.Options{Tickets: 2000, Seed: 24, Latency: 60 * time.Millisecond})
	opts := tn.options(target)
	opts.Concurrency = 1
	opts.StateDir = filepath.Join(t.TempDir(), "state")
	// The lease is renewed every third of a second: a taker's replacement
	// of lease.json (any write changes its ETag) is noticed within that.
	opts.LeaseTTL = time.Second
	api := &watched{API: tn.client}
	api.onPage = func(n int64) {
		if n == 5 {
			store, err := dataset.Open(context.Background(), target)
			if err != nil {
				t.Error(err)
				return
			}
			defer store.Close()
			if err := store.WriteAside(context.Background(), dataset.AsidePrefix+"lease.json", []byte(`{"host":"taker"}`)); err != nil {
				t.Error(err)
			}
		}
	}
	_, err := Run(context.Background(), api, opts)
	if !errors.As(err, new(*dataset.LeaseLostError)) {
		t.Fatalf("run without its lease: %v", err)
	}
	if runs := published(t, target); len(runs) != 0 {
		t.Fatalf("%d runs published without the lease", len(runs))
	}
}
