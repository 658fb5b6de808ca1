package sync

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/pipeline/pipelinetest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// tenant is a simulator and a real client of it.
type tenant struct {
	*udesktest.Server
	client *udesk.Client
}

func newTenant(t *testing.T, opts udesktest.Options) *tenant {
	t.Helper()
	srv, err := udesktest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := udesk.NewClient(udesk.Config{BaseURL: srv.URL(), Signer: udesk.NewMD5Signer(srv.Secret())})
	if err != nil {
		t.Fatal(err)
	}
	return &tenant{Server: srv, client: c}
}

// requests counts every request the simulator received.
func (tn *tenant) requests() int {
	n := 0
	for _, c := range tn.Requests() {
		n += c
	}
	return n
}

// ids are the ids of the simulator's live tickets.
func (tn *tenant) ids() map[int64]bool {
	m := map[int64]bool{}
	for _, t := range tn.Tickets() {
		m[t.ID] = true
	}
	return m
}

func (tn *tenant) options(target string) Options {
	return Options{Dataset: target, Tenant: tn.URL(), Observer: &pipelinetest.Log{}}
}

// syncOK runs a sync that must succeed and returns its report and the
// requests it made.
func (tn *tenant) syncOK(t *testing.T, opts Options) (*Report, int) {
	t.Helper()
	before := tn.requests()
	rep, err := Run(context.Background(), tn.client, opts)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return rep, tn.requests() - before
}

// table reads a table of a dataset as a run left it, through iceberg-go
// (tickets at the run's snapshot, the run's rows of the others): one map
// per row, column -> cell as the CSV export writes it, sorted by id.
func table(t *testing.T, target, name, run string) (header []string, rows []map[string]string) {
	t.Helper()
	s, err := dataset.Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	schema, records, err := s.Scan(context.Background(), name, run)
	if err != nil {
		t.Fatal(err)
	}
	header, rows = datasettest.ReadRecords(t, schema, records)
	sort.SliceStable(rows, func(i, j int) bool { return idOf(rows[i]) < idOf(rows[j]) })
	return header, rows
}

func idOf(row map[string]string) int64 {
	var id int64
	fmt.Sscan(row["id"], &id)
	return id
}

// idsOf lists the ids of rows whose op is op ("" for any), sorted.
func idsOf(rows []map[string]string, op string) []int64 {
	var ids []int64
	for _, r := range rows {
		if op == "" || r["op"] == op {
			ids = append(ids, idOf(r))
		}
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids []int64) []int64 {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func published(t *testing.T, target string) []dataset.Run {
	t.Helper()
	s, err := dataset.Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.Published(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return runs
}
