package dataset

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// RunLayout is how a run is named: its start in UTC.
const RunLayout = "20060102T150405Z"

// RunID names the run that started at t.
func RunID(t time.Time) string { return t.UTC().Format(RunLayout) }

// Counts are what a run found, by ticket.
type Counts struct {
	Tickets   int64 `json:"tickets"`   // rows of the tickets table after the run
	Inserted  int64 `json:"inserted"`  // not in the previous snapshot
	Updated   int64 `json:"updated"`   // in it, with a value changed
	Deleted   int64 `json:"deleted"`   // in it, and confirmed gone
	Unchanged int64 `json:"unchanged"` // in it, every value the same
	Recovered int64 `json:"recovered"` // missing from the listing but found by id
}

// Run is a committed run, as every snapshot it committed records it in its
// summary (the udesk.* properties).
type Run struct {
	Run         string    `json:"run"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Selector    string    `json:"selector"`
	Counts      Counts    `json:"counts"`
	Requests    int64     `json:"requests"`
	CatalogHash string    `json:"catalog_hash"`
	Drift       []string  `json:"drift,omitempty"`
	// UUID tells apart two runs that started in the same second (and so
	// have one name): "" matches any.
	UUID string `json:"uuid,omitempty"`
	// Snapshot is the run's tickets snapshot (for time travel); 0 when
	// --keep expired it.
	Snapshot int64 `json:"snapshot,omitempty"`
}

// Is says whether r is the run named run with the uuid given ("" for any).
func (r Run) Is(run, uuid string) bool {
	return r.Run == run && (uuid == "" || r.UUID == "" || r.UUID == uuid)
}

// Snapshot summary keys.
const (
	propRun       = "udesk.run"
	propStarted   = "udesk.started"
	propFinished  = "udesk.finished"
	propSelector  = "udesk.selector"
	propRequests  = "udesk.requests"
	propCatalog   = "udesk.catalog-hash"
	propDrift     = "udesk.drift"
	propDiscarded = "udesk.discarded" // runs whose rows this snapshot removed: never published
	propUUID      = "udesk.run-uuid"
)

// summary is the run's snapshot summary properties.
func (r Run) summary() iceberg.Properties {
	c := r.Counts
	p := iceberg.Properties{
		propRun: r.Run, propStarted: r.Started.UTC().Format(time.RFC3339), propFinished: r.Finished.UTC().Format(time.RFC3339),
		propSelector: r.Selector, propRequests: strconv.FormatInt(r.Requests, 10), propCatalog: r.CatalogHash,
		"udesk.tickets": i64(c.Tickets), "udesk.inserted": i64(c.Inserted), "udesk.updated": i64(c.Updated),
		"udesk.deleted": i64(c.Deleted), "udesk.unchanged": i64(c.Unchanged), "udesk.recovered": i64(c.Recovered),
	}
	if len(r.Drift) > 0 {
		p[propDrift] = strings.Join(r.Drift, "; ")
	}
	if r.UUID != "" {
		p[propUUID] = r.UUID
	}
	return p
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// runOf reads a run back from a snapshot's summary; false for a snapshot no
// run committed.
func runOf(s *table.Snapshot) (Run, bool) {
	if s == nil || s.Summary == nil || s.Summary.Properties[propRun] == "" {
		return Run{}, false
	}
	p := s.Summary.Properties
	n := func(k string) int64 { v, _ := strconv.ParseInt(p[k], 10, 64); return v }
	t := func(k string) time.Time { v, _ := time.Parse(time.RFC3339, p[k]); return v }
	r := Run{
		Run: p[propRun], Started: t(propStarted), Finished: t(propFinished), Selector: p[propSelector],
		Requests: n(propRequests), CatalogHash: p[propCatalog], UUID: p[propUUID],
		Counts: Counts{Tickets: n("udesk.tickets"), Inserted: n("udesk.inserted"), Updated: n("udesk.updated"),
			Deleted: n("udesk.deleted"), Unchanged: n("udesk.unchanged"), Recovered: n("udesk.recovered")},
	}
	if d := p[propDrift]; d != "" {
		r.Drift = strings.Split(d, "; ")
	}
	return r, true
}

// Published returns the published runs, oldest first: a run is published
// when its tickets snapshot is. Runs whose tickets snapshot --keep expired
// are still listed, from the changes table, which is never expired.
func (s *Store) Published(ctx context.Context) ([]Run, error) {
	st, err := s.tables(ctx)
	if err != nil {
		return nil, err
	}
	return st.published(), nil
}

// tableSet is the dataset's three tables as loaded (nil: not created yet).
type tableSet struct {
	tickets, changes, history *table.Table
}

func (s *Store) tables(ctx context.Context) (*tableSet, error) {
	var st tableSet
	for name, t := range map[string]**table.Table{TableTickets: &st.tickets, TableChanges: &st.changes, TableHistory: &st.history} {
		tbl, err := s.catalog(name).load(ctx)
		if err != nil {
			return nil, err
		}
		*t = tbl
	}
	return &st, nil
}

// catalog is where table name is kept: the SQL catalog the dataset was
// opened with, or the table's folder.
func (s *Store) catalog(name string) tableCatalog {
	if s.sql != nil {
		return &sqlTable{s: s, c: s.sql, name: name}
	}
	return &folderCatalog{s: s, name: name}
}

// runsIn returns the runs a table's snapshots record, in commit order.
func runsIn(t *table.Table) []Run {
	var runs []Run
	for _, snap := range snapshotsOf(t) {
		if r, ok := runOf(&snap); ok {
			runs = append(runs, r)
		}
	}
	return runs
}

// hasRun says whether a table has a snapshot of run (with the uuid, if
// not "").
func hasRun(t *table.Table, run, uuid string) bool {
	for _, r := range runsIn(t) {
		if r.Is(run, uuid) {
			return true
		}
	}
	return false
}

// discarded are the runs a table's snapshots say they removed.
func discarded(t *table.Table) map[string]bool {
	out := map[string]bool{}
	for _, snap := range snapshotsOf(t) {
		if snap.Summary == nil {
			continue
		}
		for _, r := range strings.Fields(snap.Summary.Properties[propDiscarded]) {
			out[r] = true
		}
	}
	return out
}

func (st *tableSet) published() []Run {
	var runs []Run
	seen := map[string]bool{}
	for _, snap := range snapshotsOf(st.tickets) {
		if r, ok := runOf(&snap); ok {
			r.Snapshot = snap.SnapshotID
			runs = append(runs, r)
			seen[r.Run] = true
		}
	}
	// Older runs whose tickets snapshots were expired: the changes table
	// keeps every published run's snapshot.
	var older []Run
	gone := discarded(st.changes)
	if len(runs) > 0 {
		for _, r := range runsIn(st.changes) {
			if r.Run == runs[0].Run {
				break
			}
			if !seen[r.Run] && !gone[r.Run] {
				older = append(older, r)
			}
		}
	}
	return append(older, runs...)
}

// latest is the last published run, nil before the first.
func (st *tableSet) latest() *Run {
	if st.tickets == nil {
		return nil
	}
	if r, ok := runOf(st.tickets.CurrentSnapshot()); ok {
		return &r
	}
	return nil
}

// unpublished are the runs committed to changes or field_history after the
// last published run but never to tickets (runs killed between their
// commits), other than run.
func (st *tableSet) unpublished(run string) []string {
	published := map[string]bool{}
	for _, r := range runsIn(st.tickets) {
		published[r.Run] = true
	}
	var out []string
	seen := map[string]bool{run: true} // a rerun of run completes its own rows
	for _, t := range []*table.Table{st.changes, st.history} {
		runs, gone := runsIn(t), discarded(t)
		last := -1
		for i, r := range runs {
			if published[r.Run] {
				last = i
			}
		}
		for _, r := range runs[last+1:] {
			if !gone[r.Run] && !seen[r.Run] {
				seen[r.Run] = true
				out = append(out, r.Run)
			}
		}
	}
	return out
}
