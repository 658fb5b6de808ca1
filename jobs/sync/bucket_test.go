package sync

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// The same job against a bucket of a real S3-compatible server: the runs,
// their counts and requests as with a folder, and the state kept locally.
func TestSyncIntoABucket(t *testing.T) {
	bucket, _ := datasettest.StartS3(t)
	target := bucket + "/reports/tickets/"
	tn := newTenant(t, udesktest.Options{Tickets: 1200, Seed: 8})
	opts := tn.options(target)
	opts.StateDir = filepath.Join(t.TempDir(), "state")
	opts.Keep = 1

	r1, req := tn.syncOK(t, opts)
	if r1.Run.Counts != (dataset.Counts{Tickets: 1200, Inserted: 1200}) || req != udesk.ListingRequests(1200) {
		t.Fatalf("first run %+v, %d requests", r1.Run.Counts, req)
	}
	if r1.Dataset != "s3://"+target[len("s3://"):len(target)-1] {
		t.Fatalf("dataset named %q", r1.Dataset)
	}
	for i := range 9 {
		tn.UpdateTicket(int64(10+i), func(t *udesktest.Ticket) { t.Subject = "edited" })
	}
	tn.DeleteTicket(500)
	tn.DeleteTicket(501)
	tn.CreateTicket(udesktest.Ticket{Subject: "new"})

	r2, req := tn.syncOK(t, opts)
	want := dataset.Counts{Tickets: 1199, Inserted: 1, Updated: 9, Deleted: 2, Unchanged: 1200 - 11}
	if r2.Run.Counts != want || req != udesk.ListingRequests(1199)+2 {
		t.Fatalf("second run %+v (want %+v), %d requests", r2.Run.Counts, want, req)
	}
	if entries, err := os.ReadDir(opts.StateDir); err != nil || len(entries) == 0 {
		t.Fatalf("no local state in %s: %v", opts.StateDir, err)
	}

	// The runs as a reader of the bucket sees them.
	s, err := dataset.Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.Published(context.Background())
	if err != nil || len(runs) != 2 || runs[1].Counts != want {
		t.Fatalf("published %+v, %v", runs, err)
	}
}
