package sync

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// staticTable opens a table of a local dataset the way a static-table
// reader does (PyIceberg's StaticTable, DuckDB's iceberg_scan): from the
// metadata file version-hint.text names, without the dataset package.
func staticTable(t *testing.T, dir, name string) *icetable.Table {
	t.Helper()
	hint, err := os.ReadFile(filepath.Join(dir, name, "metadata", "version-hint.text"))
	if err != nil {
		t.Fatal(err)
	}
	loc := filepath.Join(dir, name, "metadata", "v"+strings.TrimSpace(string(hint))+".metadata.json")
	tbl, err := icetable.NewFromLocation(context.Background(), []string{name}, loc,
		func(context.Context) (icebergio.IO, error) { return icebergio.LocalFS{}, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// scanRows reads a scan as text cells (as the CSV export writes them).
func scanRows(t *testing.T, scan *icetable.Scan) []map[string]string {
	t.Helper()
	schema, records, err := scan.ToArrowRecords(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, rows := datasettest.ReadRecords(t, schema, records)
	slices.SortFunc(rows, func(a, b map[string]string) int { return int(idOf(a) - idOf(b)) })
	return rows
}

// snapshotOf finds the snapshot a run committed to a table.
func snapshotOf(t *testing.T, tbl *icetable.Table, run string) *icetable.Snapshot {
	t.Helper()
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties["udesk.run"] == run {
			return &s
		}
	}
	t.Fatalf("no snapshot of run %s", run)
	return nil
}

// The dataset's tables follow the tenant, as any Iceberg reader sees them:
// after 5,000 tickets, then 30 updated, 6 created, 4 deleted and a field
// relabelled, tickets equals the tenant, changes holds exactly the run's
// 6/30/4, and time travel to the first run gives the first state.
func TestIcebergDatasetFollowsTheTenant(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 5000, Seed: 21})
	dir := filepath.Join(t.TempDir(), "dataset")
	opts := tn.options(dir)
	r1, _ := tn.syncOK(t, opts)
	first := scanRows(t, staticTable(t, dir, dataset.TableTickets).Scan())
	if len(first) != 5000 {
		t.Fatalf("first run: %d rows", len(first))
	}

	var updated, created, deleted []int64
	for i := range 30 {
		id := int64(4000 + 30*i) // mostly recent tickets, as in a helpdesk
		if i%5 == 0 {
			id = int64(7 + 97*i)
		}
		tn.UpdateTicket(id, func(t *udesktest.Ticket) { t.Subject = "edited " + t.Subject })
		updated = append(updated, id)
	}
	for i := range 4 {
		id := int64(4500 + 7*i)
		tn.DeleteTicket(id)
		deleted = append(deleted, id)
	}
	for i := range 6 {
		created = append(created, tn.CreateTicket(udesktest.Ticket{Subject: "new " + string(rune('a'+i))}))
	}
	if !tn.RelabelField("TextField_1", "备注（改）") {
		t.Fatal("relabel")
	}
	r2, _ := tn.syncOK(t, opts)
	if c := r2.Run.Counts; c.Inserted != 6 || c.Updated != 30 || c.Deleted != 4 || c.Tickets != 5002 {
		t.Fatalf("second run counts %+v", c)
	}

	// tickets equals the tenant, ids and values.
	tickets := staticTable(t, dir, dataset.TableTickets)
	now := scanRows(t, tickets.Scan())
	live := tn.Tickets()
	if len(now) != len(live) {
		t.Fatalf("tickets has %d rows, the tenant %d", len(now), len(live))
	}
	slices.SortFunc(live, func(a, b udesktest.Ticket) int { return int(a.ID - b.ID) })
	for i, tk := range live {
		row := now[i]
		at, _ := time.Parse("2006-01-02 15:04:05 -0700", tk.UpdatedAt)
		if idOf(row) != tk.ID || unescaped(row["subject"]) != tk.Subject || row["status"] != tk.Status || row["priority"] != tk.Priority ||
			row["updated_at"] != at.Format(time.RFC3339) || unescaped(row["单行文本字段"]) != tk.CustomFields["TextField_1"] {
			t.Fatalf("row %d: %v, the tenant has %+v", i, row, tk)
		}
	}
	// A run that changed 40 tickets rewrote few files: most of the first
	// run's files are still referenced as they were.
	if s := tickets.CurrentSnapshot(); s.Summary.Properties["added-data-files"] == "" {
		t.Fatalf("second run's snapshot summary %v", s.Summary)
	}

	// changes holds exactly the run's inserts, updates and deletes.
	changes := staticTable(t, dir, dataset.TableChanges)
	chg := scanRows(t, changes.Scan(icetable.WithRowFilter(iceberg.EqualTo(iceberg.Reference("_run"), r2.Run.Run))))
	for op, want := range map[string][]int64{dataset.OpInsert: created, dataset.OpUpdate: updated, dataset.OpDelete: deleted} {
		if got := idsOf(chg, op); !slices.Equal(got, sorted(want)) {
			t.Fatalf("%s: %v, want %v", op, got, sorted(want))
		}
	}
	if len(chg) != 40 {
		t.Fatalf("%d change rows for run 2, want 40", len(chg))
	}

	// Time travel to run 1's snapshot gives the first state.
	back := scanRows(t, tickets.Scan(icetable.WithSnapshotID(snapshotOf(t, tickets, r1.Run.Run).SnapshotID)))
	if len(back) != len(first) {
		t.Fatalf("run 1 read back: %d rows, want %d", len(back), len(first))
	}
	for i := range first {
		if !mapsEqual(back[i], first[i]) {
			t.Fatalf("run 1 read back, row %d:\n%v\nwant\n%v", i, back[i], first[i])
		}
	}
	// Every table's snapshot of run 2 names it.
	for _, name := range []string{dataset.TableChanges, dataset.TableHistory} {
		snapshotOf(t, staticTable(t, dir, name), r2.Run.Run)
	}
}

// unescaped undoes the formula escape the text rendering adds (a leading
// quote before a text that starts like a formula or with a quote).
func unescaped(s string) string {
	if strings.HasPrefix(s, "'") {
		return s[1:]
	}
	return s
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A dataset knows whose it is: a sync of another tenant, or of another
// selector, into it is refused before any ticket is read, naming both.
func TestSyncOfAnotherTenantOrSelectorIsRefused(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 30, Seed: 1})
	dir := filepath.Join(t.TempDir(), "dataset")
	tn.syncOK(t, tn.options(dir))

	other := newTenant(t, udesktest.Options{Tickets: 20, Seed: 2})
	for name, opts := range map[string]Options{
		"tenant":   other.options(dir),
		"selector": func() Options { o := tn.options(dir); o.Listing.FilterID = 1; return o }(),
	} {
		before := other.requests() + tn.requests()
		_, err := Run(context.Background(), other.client, opts)
		var ce *pipeline.ConfigError
		var oe *dataset.OwnerError
		if !errors.As(err, &ce) || !errors.As(err, &oe) || !strings.Contains(err.Error(), tn.URL()) {
			t.Fatalf("%s: %v, want a refusal naming the dataset's tenant", name, err)
		}
		if name == "tenant" && !strings.Contains(err.Error(), other.URL()) {
			t.Fatalf("the refusal does not name this sync's tenant: %v", err)
		}
		if n := other.requests() + tn.requests() - before; n != 0 {
			t.Fatalf("%s: a refused sync sent %d requests", name, n)
		}
	}
	if runs := published(t, dir); len(runs) != 1 {
		t.Fatalf("published %d runs", len(runs))
	}
}

// A run committed by a clock an hour ahead does not block the next one,
// and a run whose start lies after its commit's time is refused until
// --fresh starts a new one.
func TestClockAheadDoesNotBlockTheDataset(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 40, Seed: 6})
	dir := filepath.Join(t.TempDir(), "dataset")
	r0, _ := tn.syncOK(t, tn.options(dir))
	ahead := tn.options(dir)
	ahead.Now = func() time.Time { return time.Now().Add(time.Hour) }
	r1, _ := tn.syncOK(t, ahead)
	tn.UpdateTicket(3, func(t *udesktest.Ticket) { t.Subject = "edited" })
	// Likely in the second of run 0: the run waits for a free name.
	r2, _ := tn.syncOK(t, tn.options(dir))
	if r2.Run.Run >= r1.Run.Run || r2.Run.Run == r0.Run.Run || r2.Run.Counts.Updated != 1 {
		t.Fatalf("run after the clock ahead: %+v (previous %s, %s)", r2.Run, r0.Run.Run, r1.Run.Run)
	}
	if runs := published(t, dir); len(runs) != 3 || runs[2].Run != r2.Run.Run {
		t.Fatalf("published %+v", runs)
	}
}
