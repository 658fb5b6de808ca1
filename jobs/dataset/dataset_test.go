package dataset

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/udesk"
)

func testFields() []udesk.Field {
	return []udesk.Field{
		{Name: "TextField_1", Label: "备注", ContentType: udesk.TypeText},
		{Name: "SelectField_1", Label: "级别", ContentType: udesk.TypeDroplist,
			Options: []udesk.Option{{Index: "0", Label: "低"}, {Index: "1", Label: "高"}}},
		{Name: "SelectField_2", Label: "渠道", ContentType: udesk.TypeCheckbox,
			Options: []udesk.Option{{Index: "0", Label: "电话"}, {Index: "1", Label: "邮件"}, {Index: "2", Label: "微信"}}},
		{Name: "TextField_2", Label: "到期", ContentType: udesk.TypeDate},
		{Name: "NumberField_1", Label: "数量", ContentType: udesk.TypeNumber},
		{Name: "TextField_3", Label: "时刻", ContentType: udesk.TypeTime},
	}
}

func tk(id int64, subject string, cf map[string]string) udesk.Ticket {
	return udesk.Ticket{
		ID: id, Subject: subject, Status: "open", Priority: "标准",
		CreatedAt: "2026-11-01 10:00:00 +0800", UpdatedAt: "2026-11-30 10:00:00 +0800",
		CustomFields: cf,
	}
}

func feed(ts ...udesk.Ticket) TicketFeed {
	return func(ctx context.Context, emit func([]udesk.Ticket) error) error { return emit(ts) }
}

// lookupOf answers from found and deleted, recording the ids asked.
func lookupOf(asked *[]int64, found []udesk.Ticket, deleted ...int64) LookupFunc {
	return func(ctx context.Context, ids []int64) ([]udesk.Ticket, []int64, error) {
		*asked = append(*asked, ids...)
		return found, deleted, nil
	}
}

var runBase = time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)

func runAt(n int) time.Time { return runBase.Add(time.Duration(n) * time.Hour) }

func commitRun(t *testing.T, s *Store, n int, tickets TicketFeed, lookup LookupFunc, opts Options) *Result {
	t.Helper()
	opts.Started = runAt(n)
	if opts.Catalog == nil {
		opts.Catalog = testFields()
	}
	opts.TempDir = t.TempDir()
	res, err := Commit(context.Background(), s, tickets, lookup, opts)
	if err != nil {
		t.Fatalf("run %d: %v", n, err)
	}
	return res
}

// readTable reads a table as a run left it (tickets at the run's snapshot,
// the run's rows of the others) through iceberg-go, cells rendered as the
// CSV export writes them, by id then column.
func readTable(t *testing.T, s *Store, table, run string) []map[string]string {
	t.Helper()
	schema, records, err := s.Scan(context.Background(), table, run)
	if err != nil {
		t.Fatal(err)
	}
	_, rows := datasettest.ReadRecords(t, schema, records)
	slices.SortStableFunc(rows, func(a, b map[string]string) int {
		if c := len(a["id"]) - len(b["id"]); c != 0 {
			return c
		}
		if c := strings.Compare(a["id"], b["id"]); c != 0 {
			return c
		}
		return strings.Compare(a["column"], b["column"])
	})
	return rows
}

func contractIn(t *testing.T, s *Store) *Contract {
	t.Helper()
	tt, err := s.catalog(TableTickets).load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.contractOf(tt)
	if err != nil || c == nil {
		t.Fatalf("contract %v, %v", c, err)
	}
	return c
}

func wantCounts(t *testing.T, got, want Counts) {
	t.Helper()
	if got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
}

func keys(t *testing.T, s *Store, prefix string) []string {
	t.Helper()
	k, err := s.list(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCommitTracksInsertsUpdatesDeletes(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		t1 := tk(1, "printer", map[string]string{"TextField_1": "a", "SelectField_1": "0", "SelectField_2": "0,2", "TextField_2": "2026-12-24", "NumberField_1": "3"})
		t2 := tk(2, "screen", map[string]string{"SelectField_1": "1"})
		t3 := tk(3, "mouse", nil)
		r1 := commitRun(t, s, 0, feed(t1, t2, t3), nil, Options{Selector: "all", Requests: func() int64 { return 7 }})
		wantCounts(t, r1.Run.Counts, Counts{Tickets: 3, Inserted: 3})
		if r1.Run.Run != "20261201T020000Z" || r1.Run.Requests != 7 || !strings.HasPrefix(r1.Run.CatalogHash, "sha256:") {
			t.Fatalf("run record %+v", r1.Run)
		}

		for _, table := range []string{TableTickets, TableChanges} {
			want := []string{table + "/metadata/v1.metadata.json", table + "/metadata/v2.metadata.json", table + "/metadata/version-hint.text"}
			var got []string
			for _, k := range keys(t, s, table+"/metadata/") {
				if !strings.HasSuffix(k, ".avro") {
					got = append(got, k)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s after the first run:\n%q\nwant\n%q", table, got, want)
			}
		}
		if got := keys(t, s, TableHistory); len(got) != 0 {
			t.Fatalf("field_history has files after a run without history: %q", got)
		}
		snap := readTable(t, s, TableTickets, r1.Run.Run)
		if len(snap) != 3 {
			t.Fatalf("snapshot has %d rows, want 3", len(snap))
		}
		if got := snap[0]; got["级别"] != "低" || got["渠道"] != "电话,微信" || got["到期"] != "2026-12-24" ||
			got["数量"] != "3" || got["updated_at"] != "2026-11-30T10:00:00+08:00" || got["_run"] != r1.Run.Run {
			t.Fatalf("ticket 1 in the snapshot: %v", got)
		}
		for _, c := range readTable(t, s, TableChanges, r1.Run.Run) {
			if c["op"] != OpInsert || c["changed"] != "" {
				t.Fatalf("first run's change %v, want inserts only", c)
			}
		}

		// Run 2: ticket 1 changed, 2 not listed but found, 3 gone, 4 new.
		t1b := t1
		t1b.Subject, t1b.UpdatedAt = "printer jam", "2026-12-01 09:00:00 +0800"
		t1b.CustomFields = map[string]string{"TextField_1": "a", "SelectField_1": "1", "SelectField_2": "0,2", "TextField_2": "2026-12-24", "NumberField_1": "3"}
		t4 := tk(4, "keyboard", nil)
		var asked []int64
		r2 := commitRun(t, s, 1, feed(t1b, t4), lookupOf(&asked, []udesk.Ticket{t2}, 3), Options{})
		wantCounts(t, r2.Run.Counts, Counts{Tickets: 3, Inserted: 1, Updated: 1, Deleted: 1, Unchanged: 1, Recovered: 1})
		if !slices.Equal(asked, []int64{2, 3}) {
			t.Fatalf("looked up %v, want [2 3]", asked)
		}
		ids := []string{}
		for _, r := range readTable(t, s, TableTickets, r2.Run.Run) {
			ids = append(ids, r["id"])
		}
		if !slices.Equal(ids, []string{"1", "2", "4"}) {
			t.Fatalf("run 2 snapshot ids %v", ids)
		}
		changes := readTable(t, s, TableChanges, r2.Run.Run)
		want := []string{"1 update subject,updated_at,级别 2026-12-01T09:00:00+08:00", "3 delete  2026-11-30T10:00:00+08:00", "4 insert  2026-11-30T10:00:00+08:00"}
		var got []string
		for _, c := range changes {
			got = append(got, c["id"]+" "+c["op"]+" "+c["changed"]+" "+c["updated_at"])
		}
		if !slices.Equal(got, want) {
			t.Fatalf("changes\n%q\nwant\n%q", got, want)
		}
		hist := readTable(t, s, TableHistory, r2.Run.Run)
		got = nil
		for _, h := range hist {
			got = append(got, h["id"]+" "+h["column"]+" "+h["old"]+" -> "+h["new"]+" "+h["_run"])
		}
		want = []string{
			"1 subject printer -> printer jam 20261201T030000Z",
			"1 updated_at 2026-11-30T10:00:00+08:00 -> 2026-12-01T09:00:00+08:00 20261201T030000Z",
			"1 级别 低 -> 高 20261201T030000Z",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("history\n%q\nwant\n%q", got, want)
		}

		runs, err := s.Published(context.Background())
		if err != nil || len(runs) != 2 || runs[1].Run != r2.Run.Run || runs[1].Counts != r2.Run.Counts {
			t.Fatalf("published %+v, %v", runs, err)
		}
	})
}

func TestUnchangedTicketsCompareAsValues(t *testing.T) {
	s := openStore(t, t.TempDir())
	t1 := tk(1, "x", map[string]string{"TextField_1": "a", "SelectField_1": "0", "SelectField_2": "2,0", "TextField_2": "2026-12-24", "NumberField_1": "3", "TextField_3": "15:04:05"})
	t2 := tk(2, "y", map[string]string{"NumberField_1": "not a number"}) // kept raw
	commitRun(t, s, 0, feed(t1, t2), nil, Options{})
	// The same instants spelled otherwise, and every kind read back from
	// Parquet: nothing changed.
	t1.UpdatedAt = "2026-11-30T02:00:00Z"
	r := commitRun(t, s, 1, feed(t1, t2), nil, Options{})
	wantCounts(t, r.Run.Counts, Counts{Tickets: 2, Unchanged: 2})

	t2.CustomFields = map[string]string{"NumberField_1": "still not"}
	r = commitRun(t, s, 2, feed(t1, t2), nil, Options{})
	wantCounts(t, r.Run.Counts, Counts{Tickets: 2, Updated: 1, Unchanged: 1})
	h := readTable(t, s, TableHistory, r.Run.Run)
	if len(h) != 1 || h[0]["column"] != "数量" || h[0]["old"] != "not a number" || h[0]["new"] != "still not" {
		t.Fatalf("history of a raw value: %v", h)
	}
}

func TestDiffInBoundedBatches(t *testing.T) {
	defer func(n int) { pendingLimit = n }(pendingLimit)
	pendingLimit = 2
	s := openStore(t, t.TempDir())
	var before, after []udesk.Ticket
	for id := int64(1); id <= 9; id++ {
		before = append(before, tk(id, "v1", nil))
		subject := "v1"
		if id%3 != 0 {
			subject = "v2"
		}
		after = append(after, tk(id, subject, nil))
	}
	commitRun(t, s, 0, feed(before...), nil, Options{})
	r := commitRun(t, s, 1, feed(after...), nil, Options{})
	wantCounts(t, r.Run.Counts, Counts{Tickets: 9, Updated: 6, Unchanged: 3})
	hist := readTable(t, s, TableHistory, r.Run.Run)
	if len(hist) != 6 {
		t.Fatalf("history has %d rows, want 6", len(hist))
	}
	for _, h := range hist {
		if h["column"] != "subject" || h["old"] != "v1" || h["new"] != "v2" {
			t.Fatalf("history row %v", h)
		}
	}
}

func TestRelabelledFieldKeepsItsColumn(t *testing.T) {
	s := openStore(t, t.TempDir())
	t1 := tk(1, "x", map[string]string{"TextField_1": "a"})
	commitRun(t, s, 0, feed(t1), nil, Options{})

	fields := testFields()
	fields[0].Label = "Remark"
	t1.CustomFields["TextField_1"] = "b"
	r := commitRun(t, s, 1, feed(t1), nil, Options{Catalog: fields})
	if len(r.Drift) != 1 || r.Drift[0].Kind != DriftRelabel || r.Drift[0].Column != "备注" || r.Drift[0].New != "Remark" {
		t.Fatalf("drift %v", r.Drift)
	}
	snap := readTable(t, s, TableTickets, r.Run.Run)
	if snap[0]["备注"] != "b" {
		t.Fatalf("snapshot row %v: want the value under the column's first name", snap[0])
	}
	if _, ok := snap[0]["Remark"]; ok {
		t.Fatal("the relabelled field got a second column")
	}
	h := readTable(t, s, TableHistory, r.Run.Run)
	if len(h) != 1 || h[0]["column"] != "备注" {
		t.Fatalf("history %v", h)
	}
	c := contractIn(t, s)
	col := c.Columns[c.index("TextField_1")]
	if len(col.Labels) != 2 || col.Labels[1].Label != "Remark" || col.Labels[1].Run != r.Run.Run {
		t.Fatalf("label history %+v", col.Labels)
	}
	if runs, _ := s.Published(context.Background()); len(runs[1].Drift) != 1 {
		t.Fatalf("the run's line does not report the drift: %+v", runs[1])
	}
}

func TestSchemaFreezeAndEvolve(t *testing.T) {
	s := openStore(t, t.TempDir())
	t1 := tk(1, "x", map[string]string{"TextField_1": "a", "SelectField_1": "1"})
	commitRun(t, s, 0, feed(t1), nil, Options{})

	fields := testFields()
	fields = append(fields, udesk.Field{Name: "TextField_9", Label: "新字段", ContentType: udesk.TypeText})
	fields[1].Options = append(fields[1].Options, udesk.Option{Index: "2", Label: "紧急"})
	fields = slices.Delete(fields, 4, 5) // NumberField_1 removed
	t1.CustomFields["TextField_9"] = "new"

	before := keys(t, s, "")
	_, err := Commit(context.Background(), s, feed(t1), nil,
		Options{Started: runAt(1), Catalog: fields, Schema: SchemaFreeze, TempDir: t.TempDir()})
	var de *DriftError
	if !errors.As(err, &de) {
		t.Fatalf("freeze: %v, want a DriftError", err)
	}
	var kinds []string
	for _, d := range de.Drift {
		kinds = append(kinds, d.Kind+" "+d.Field)
	}
	slices.Sort(kinds)
	want := []string{"changed options SelectField_1", "new field TextField_9", "removed field NumberField_1"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("drift %q, want %q", kinds, want)
	}
	if runs, _ := s.Published(context.Background()); len(runs) != 1 {
		t.Fatalf("a frozen run was published: %+v", runs)
	}
	if k := keys(t, s, ""); !slices.Equal(k, before) {
		t.Fatalf("a frozen run changed the dataset:\n%v\n%v", before, k)
	}

	r := commitRun(t, s, 1, feed(t1), nil, Options{Catalog: fields})
	if len(r.Drift) != 3 {
		t.Fatalf("evolve drift %v", r.Drift)
	}
	// The new column is filled; the removed one stays, empty, and its
	// vanishing does not count as an update of every ticket.
	wantCounts(t, r.Run.Counts, Counts{Tickets: 1, Updated: 1})
	snap := readTable(t, s, TableTickets, r.Run.Run)
	if v, ok := snap[0]["数量"]; !ok || v != "" || snap[0]["新字段"] != "new" {
		t.Fatalf("evolved snapshot row %v", snap[0])
	}
	ch := readTable(t, s, TableChanges, r.Run.Run)
	if ch[0]["changed"] != "新字段" {
		t.Fatalf("change %v", ch[0])
	}
}

func TestChangedTypeKeepsTheColumnsType(t *testing.T) {
	s := openStore(t, t.TempDir())
	commitRun(t, s, 0, feed(tk(1, "x", map[string]string{"NumberField_1": "3", "TextField_1": "a"})), nil, Options{})
	fields := testFields()
	fields[4].ContentType = udesk.TypeText   // number -> text
	fields[0].ContentType = udesk.TypeNumber // text -> number
	r := commitRun(t, s, 1, feed(tk(1, "x", map[string]string{"NumberField_1": "three", "TextField_1": "7"})), nil, Options{Catalog: fields})
	var kinds []string
	for _, d := range r.Drift {
		kinds = append(kinds, d.String())
	}
	slices.Sort(kinds)
	want := []string{`changed type NumberField_1 (column "数量"): "int64" -> "string"`, `changed type TextField_1 (column "备注"): "string" -> "int64"`}
	if !slices.Equal(kinds, want) {
		t.Fatalf("drift %q, want %q", kinds, want)
	}
	snap := readTable(t, s, TableTickets, r.Run.Run)
	if snap[0]["数量"] != "three" || snap[0]["备注"] != "7" {
		t.Fatalf("snapshot row %v", snap[0])
	}
	c := contractIn(t, s)
	if c.Columns[c.index("NumberField_1")].Type != "int64" || c.Columns[c.index("TextField_1")].Type != "string" {
		t.Fatalf("contract types changed: %+v", c.Columns)
	}
}

func TestNewFieldTakingAnExistingColumnName(t *testing.T) {
	s := openStore(t, t.TempDir())
	commitRun(t, s, 0, feed(tk(1, "x", nil)), nil, Options{})
	fields := testFields()
	fields[0].Label = "Remark" // 备注 keeps its column
	fields = append(fields, udesk.Field{Name: "TextField_7", Label: "备注", ContentType: udesk.TypeText})
	r := commitRun(t, s, 1, feed(tk(1, "x", map[string]string{"TextField_1": "old field", "TextField_7": "new field"})), nil, Options{Catalog: fields})
	snap := readTable(t, s, TableTickets, r.Run.Run)
	if snap[0]["备注"] != "old field" || snap[0]["TextField_7"] != "new field" {
		t.Fatalf("snapshot row %v", snap[0])
	}
}

func TestFailedRunPublishesNothing(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		ctx := context.Background()
		first := commitRun(t, s, 0, feed(tk(1, "x", nil), tk(2, "y", nil)), nil, Options{})
		before := keys(t, s, "")

		// Ticket 2 is missing and its lookup answers neither way.
		var asked []int64
		_, err := Commit(ctx, s, feed(tk(1, "changed", nil)), lookupOf(&asked, nil),
			Options{Started: runAt(1), Catalog: testFields(), TempDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "ticket 2") {
			t.Fatalf("unconfirmed delete: %v", err)
		}
		// The feed fails half way.
		boom := errors.New("listing broke")
		_, err = Commit(ctx, s, func(ctx context.Context, emit func([]udesk.Ticket) error) error {
			if err := emit([]udesk.Ticket{tk(1, "changed", nil)}); err != nil {
				return err
			}
			return boom
		}, nil, Options{Started: runAt(1), Catalog: testFields(), TempDir: t.TempDir()})
		if !errors.Is(err, boom) {
			t.Fatalf("feed error: %v", err)
		}
		if after := keys(t, s, ""); !slices.Equal(before, after) {
			t.Fatalf("a failed run changed the dataset:\n%v\n%v", before, after)
		}

		runs, err := s.Published(ctx)
		if err != nil || len(runs) != 1 || runs[0].Run != first.Run.Run {
			t.Fatalf("published after failed runs: %+v, %v", runs, err)
		}
		r := commitRun(t, s, 2, feed(tk(1, "x", nil), tk(2, "y", nil)), nil, Options{})
		wantCounts(t, r.Run.Counts, Counts{Tickets: 2, Unchanged: 2})
	})
}

func TestKeepExpiresOldTicketSnapshotsOnly(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		ctx := context.Background()
		var runs []string
		for n := range 4 {
			r := commitRun(t, s, n, feed(tk(1, strings.Repeat("x", n+1), nil)), nil, Options{Keep: 2})
			runs = append(runs, r.Run.Run)
		}
		st, err := s.tables(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, r := range runsIn(st.tickets) {
			kept = append(kept, r.Run)
		}
		if !slices.Equal(kept, runs[2:]) {
			t.Fatalf("tickets snapshots of %v, want %v", kept, runs[2:])
		}
		for i, tbl := range []*table.Table{st.changes, st.history} {
			var got []string
			for _, r := range runsIn(tbl) {
				got = append(got, r.Run)
			}
			if want := runs[i:]; !slices.Equal(got, want) { // the first run has no history
				t.Fatalf("%v runs %v, want all %v", tbl.Identifier(), got, want)
			}
		}
		if p, _ := s.Published(ctx); len(p) != 4 || p[1].Snapshot != 0 || p[2].Snapshot == 0 || p[3].Snapshot == 0 {
			t.Fatalf("published %+v, want 4 runs, the first two's tickets snapshots expired", p)
		}
		// Time travel to a kept run works; the expired runs' files stay for
		// the grace period, then go.
		if rows := readTable(t, s, TableTickets, runs[2]); len(rows) != 1 || rows[0]["subject"] != "xxx" {
			t.Fatalf("run %s read back: %v", runs[2], rows)
		}
		before := len(keys(t, s, "tickets/data/"))
		if err := s.retain(ctx, 2, time.Hour, time.Now()); err != nil {
			t.Fatal(err)
		}
		if n := len(keys(t, s, "tickets/data/")); n != before {
			t.Fatalf("files were deleted within the grace period: %d -> %d", before, n)
		}
		if err := s.retain(ctx, 2, time.Hour, time.Now().Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := len(keys(t, s, "tickets/data/")); n != 2 {
			t.Fatalf("%d data files after the grace period, want the 2 kept runs'", n)
		}
		if rows := readTable(t, s, TableTickets, runs[2]); len(rows) != 1 {
			t.Fatalf("kept run %s lost its files: %v", runs[2], rows)
		}
	})
}

func TestSameRunTwiceIsCommittedOnce(t *testing.T) {
	s := openStore(t, t.TempDir())
	first := commitRun(t, s, 1, feed(tk(1, "x", nil)), nil, Options{})
	again := commitRun(t, s, 1, feed(tk(1, "y", nil)), nil, Options{})
	if !again.Already || again.Run.Run != first.Run.Run {
		t.Fatalf("same run again: %+v", again)
	}
	if p, _ := s.Published(context.Background()); len(p) != 1 {
		t.Fatalf("published %+v", p)
	}
}

func TestRunStartingAfterNowIsRefused(t *testing.T) {
	s := openStore(t, t.TempDir())
	_, err := Commit(context.Background(), s, feed(tk(1, "x", nil)), nil, Options{
		Started: runAt(2), Catalog: testFields(), TempDir: t.TempDir(), Now: func() time.Time { return runAt(1) }})
	if err == nil || !strings.Contains(err.Error(), "--fresh") {
		t.Fatalf("a run from the future: %v", err)
	}
}

func TestOpenRejectsABucketlessURL(t *testing.T) {
	if _, err := Open(context.Background(), "s3:///prefix"); err == nil || !strings.Contains(err.Error(), "no bucket") {
		t.Fatalf("s3:///prefix: %v", err)
	}
}

func TestUsersOwnFilesStay(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mine := []string{filepath.Join(dir, "notes.tmp"), filepath.Join(dir, "tickets", "README.txt")}
	commitRun(t, s, 0, feed(tk(1, "x", nil)), nil, Options{})
	for _, f := range mine {
		if err := os.WriteFile(f, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commitRun(t, s, 1, feed(tk(1, "y", nil)), nil, Options{Keep: 1, Grace: time.Nanosecond})
	for _, f := range mine {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the user's %s: %v", f, err)
		}
	}
}

func TestRenamedOptionIsNoUpdate(t *testing.T) {
	s := openStore(t, t.TempDir())
	t1 := tk(1, "x", map[string]string{"SelectField_1": "0", "SelectField_2": "0,2"})
	t2 := tk(2, "y", map[string]string{"SelectField_1": "1"})
	commitRun(t, s, 0, feed(t1, t2), nil, Options{})
	fields := testFields()
	fields[1].Options[0].Label = "Low" // 低 -> Low
	fields[2].Options[2].Label = "WeChat"
	t2.CustomFields["SelectField_1"] = "0" // a real change
	r := commitRun(t, s, 1, feed(t1, t2), nil, Options{Catalog: fields})
	wantCounts(t, r.Run.Counts, Counts{Tickets: 2, Updated: 1, Unchanged: 1})
	h := readTable(t, s, TableHistory, r.Run.Run)
	if len(h) != 1 || h[0]["id"] != "2" || h[0]["old"] != "高" || h[0]["new"] != "Low" {
		t.Fatalf("history %v", h)
	}
	snap := readTable(t, s, TableTickets, r.Run.Run)
	if snap[0]["级别"] != "Low" || snap[0]["渠道"] != "电话,WeChat" {
		t.Fatalf("snapshot row %v: want the current labels", snap[0])
	}
}

func TestMergeCarriesTheTicketsNotHandedOver(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "dataset"))
	t1 := tk(1, "printer", map[string]string{"SelectField_1": "0"})
	t2 := tk(2, "screen", map[string]string{"TextField_1": "kept"})
	commitRun(t, s, 0, feed(t1, t2, tk(3, "mouse", nil)), nil, Options{})
	t1b := t1
	t1b.Subject, t1b.UpdatedAt = "printer jam", "2026-12-01 09:00:00 +0800"
	fail := func(ctx context.Context, ids []int64) ([]udesk.Ticket, []int64, error) {
		t.Fatalf("a merge looked up %v", ids)
		return nil, nil, nil
	}
	r := commitRun(t, s, 1, feed(t1b, tk(4, "keyboard", nil)), fail, Options{Merge: true})
	wantCounts(t, r.Run.Counts, Counts{Tickets: 4, Inserted: 1, Updated: 1, Unchanged: 2})
	var got []string
	for _, row := range readTable(t, s, TableTickets, r.Run.Run) {
		got = append(got, row["id"]+" "+row["subject"]+" "+row["备注"]+" "+row["_run"])
	}
	want := []string{"1 printer jam  20261201T030000Z", "2 screen kept 20261201T020000Z", "3 mouse  20261201T020000Z", "4 keyboard  20261201T030000Z"}
	if !slices.Equal(got, want) {
		t.Fatalf("merged snapshot\n%q\nwant\n%q", got, want)
	}
	for _, c := range readTable(t, s, TableChanges, r.Run.Run) {
		if c["op"] == OpDelete {
			t.Fatalf("a merge deleted %v", c)
		}
	}
	// The old values come from the rows the merge read once and held.
	var subject []string
	for _, h := range readTable(t, s, TableHistory, r.Run.Run) {
		if h["column"] == "subject" {
			subject = append(subject, h["id"]+" "+h["old"]+" -> "+h["new"])
		}
	}
	if want := []string{"1 printer -> printer jam"}; !slices.Equal(subject, want) {
		t.Fatalf("merge history of subject %q, want %q", subject, want)
	}
}

func TestTimeOfDayValueIsUnchangedWhenRead(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "dataset"))
	cat := []udesk.Field{{Name: "TextField_4", Label: "时间", ContentType: udesk.TypeTime}}
	tick := tk(1, "a", map[string]string{"TextField_4": "14:58:30"})
	commitRun(t, s, 0, feed(tick), nil, Options{Catalog: cat})
	r := commitRun(t, s, 1, feed(tick), nil, Options{Catalog: cat})
	wantCounts(t, r.Run.Counts, Counts{Tickets: 1, Unchanged: 1})
}

// Two runs of one dataset at once: the one that commits second built on a
// snapshot that is no longer the latest, so it fails whole, whichever
// table it reaches first, and nothing of it is visible.
func TestConcurrentRunsExactlyOneCommits(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		for _, point := range []string{"data-written", "committed:" + TableChanges} {
			t.Run(point, func(t *testing.T) {
				s := openStore(t, target+"/"+strings.ReplaceAll(point, ":", "-"))
				ctx := context.Background()
				commitRun(t, s, 0, feed(tk(1, "a", nil), tk(2, "b", nil)), nil, Options{})
				paused, resume := make(chan struct{}), make(chan struct{})
				var slowErr error
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, slowErr = Commit(ctx, s, feed(tk(1, "slow", nil), tk(2, "b", nil), tk(3, "c", nil)), nil, Options{
						Started: runAt(1), Catalog: testFields(), TempDir: t.TempDir(),
						Pause: func(p string) {
							if p == point {
								close(paused)
								<-resume
							}
						}})
				}()
				<-paused
				other := openStore(t, target+"/"+strings.ReplaceAll(point, ":", "-"))
				fast := commitRun(t, other, 2, feed(tk(1, "fast", nil), tk(2, "b", nil)), nil, Options{})
				close(resume)
				<-done
				var ce *ConflictError
				if !errors.As(slowErr, &ce) {
					t.Fatalf("the second commit: %v, want a ConflictError", slowErr)
				}
				runs, err := s.Published(ctx)
				if err != nil || len(runs) != 2 || runs[1].Run != fast.Run.Run {
					t.Fatalf("published %+v, %v", runs, err)
				}
				rows := readTable(t, s, TableTickets, "")
				if len(rows) != 2 || rows[0]["subject"] != "fast" {
					t.Fatalf("tickets %v", rows)
				}
				// The loser's changes, if it committed them, are discarded by
				// the next run.
				next := commitRun(t, s, 3, feed(tk(1, "fast", nil), tk(2, "b", nil)), nil, Options{})
				wantCounts(t, next.Run.Counts, Counts{Tickets: 2, Unchanged: 2})
				for _, c := range readTable(t, s, TableChanges, "") {
					if c["_run"] == RunID(runAt(1)) {
						t.Fatalf("the losing run's change %v is in changes", c)
					}
				}
			})
		}
	})
}

// A run stopped between its tables' commits is completed by its rerun,
// each table committed once; a different run discards its rows instead.
func TestRunStoppedBetweenTablesIsCompletedOnce(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		commitRun(t, s, 0, feed(tk(1, "a", nil), tk(2, "b", nil)), nil, Options{})
		second := feed(tk(1, "edited", nil), tk(3, "c", nil))
		stopAt := func(point string) (context.Context, func(string)) {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			return ctx, func(p string) {
				if p == point {
					cancel()
				}
			}
		}
		for _, point := range []string{"committed:" + TableChanges, "committed:" + TableHistory} {
			ctx, pause := stopAt(point)
			_, err := Commit(ctx, s, second, lookupOf(new([]int64), nil, 2), Options{Started: runAt(1), Catalog: testFields(), TempDir: t.TempDir(), Pause: pause})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("stopped at %s: %v", point, err)
			}
		}
		r := commitRun(t, s, 1, second, lookupOf(new([]int64), nil, 2), Options{})
		if r.Already {
			t.Fatal("the run was published before its tickets commit")
		}
		wantCounts(t, r.Run.Counts, Counts{Tickets: 2, Inserted: 1, Updated: 1, Deleted: 1})
		if got := readTable(t, s, TableChanges, r.Run.Run); len(got) != 3 {
			t.Fatalf("changes of the run: %v, want 3 rows, once", got)
		}
		if got := readTable(t, s, TableHistory, r.Run.Run); len(got) != 1 {
			t.Fatalf("history of the run: %v, want 1 row, once", got)
		}

		// Stopped again, then another run (its state lost): the stopped
		// run's rows go, the new run's are there once.
		ctx, pause := stopAt("committed:" + TableHistory)
		third := feed(tk(1, "again", nil), tk(3, "c", nil))
		if _, err := Commit(ctx, s, third, nil, Options{Started: runAt(2), Catalog: testFields(), TempDir: t.TempDir(), Pause: pause}); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		r4 := commitRun(t, s, 3, third, nil, Options{})
		wantCounts(t, r4.Run.Counts, Counts{Tickets: 2, Updated: 1, Unchanged: 1})
		if !slices.ContainsFunc(r4.Notes, func(n string) bool { return strings.Contains(n, RunID(runAt(2))) }) {
			t.Fatalf("notes %q do not name the discarded run", r4.Notes)
		}
		for _, tbl := range []string{TableChanges, TableHistory} {
			if got := readTable(t, s, tbl, RunID(runAt(2))); len(got) != 0 {
				t.Fatalf("%s still holds the unpublished run's rows: %v", tbl, got)
			}
			if got := readTable(t, s, tbl, r4.Run.Run); len(got) != 1 {
				t.Fatalf("%s of run 4: %v", tbl, got)
			}
		}
		runs, _ := s.Published(context.Background())
		if len(runs) != 3 {
			t.Fatalf("published %+v", runs)
		}
	})
}

// A run in which nothing changed commits a tickets snapshot that adds no
// data file; a changed ticket rewrites only the file that holds it.
func TestUnchangedRunAddsNoDataFile(t *testing.T) {
	s := openStore(t, t.TempDir())
	commitRun(t, s, 0, feed(tk(1, "a", nil), tk(2, "b", nil)), nil, Options{})
	before := keys(t, s, "tickets/data/")
	r := commitRun(t, s, 1, feed(tk(1, "a", nil), tk(2, "b", nil)), nil, Options{})
	wantCounts(t, r.Run.Counts, Counts{Tickets: 2, Unchanged: 2})
	if after := keys(t, s, "tickets/data/"); !slices.Equal(after, before) {
		t.Fatalf("an unchanged run wrote data files: %v -> %v", before, after)
	}
	st, err := s.tables(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sum := st.tickets.CurrentSnapshot().Summary.Properties
	if sum["udesk.run"] != r.Run.Run || sum["added-data-files"] != "" && sum["added-data-files"] != "0" {
		t.Fatalf("the unchanged run's snapshot summary %v", sum)
	}
	if rows := readTable(t, s, TableTickets, r.Run.Run); len(rows) != 2 || rows[0]["_run"] != RunID(runAt(0)) {
		t.Fatalf("tickets after an unchanged run: %v", rows)
	}
}

// A field labelled like one of the tool's own columns gets a column of its
// own, and the run says so.
func TestFieldLabelledLikeAToolColumn(t *testing.T) {
	s := openStore(t, t.TempDir())
	cat := append(testFields(), udesk.Field{Name: "TextField_8", Label: "_run", ContentType: udesk.TypeText},
		udesk.Field{Name: "TextField_9", Label: "subject", ContentType: udesk.TypeText})
	r := commitRun(t, s, 0, feed(tk(1, "a", map[string]string{"TextField_8": "mine", "TextField_9": "also mine"})), nil, Options{Catalog: cat})
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "TextField_8") {
		t.Fatalf("notes %q", r.Notes)
	}
	rows := readTable(t, s, TableTickets, r.Run.Run)
	// (The export itself names a field labelled like an attribute by its
	// field_name.)
	if rows[0]["_run"] != r.Run.Run || rows[0]["TextField_8"] != "mine" || rows[0]["TextField_9"] != "also mine" || rows[0]["subject"] != "a" {
		t.Fatalf("row %v", rows[0])
	}
}

// A writer killed between a table's metadata file and its version hint:
// readers here see the committed version, and the next commit points the
// hint at it before anything else.
func TestLaggingVersionHintIsRepaired(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		ctx := context.Background()
		commitRun(t, s, 0, feed(tk(1, "a", nil)), nil, Options{})
		r := commitRun(t, s, 1, feed(tk(1, "b", nil)), nil, Options{})
		hint := TableTickets + "/metadata/version-hint.text"
		if err := s.write(ctx, hint, []byte("2")); err != nil {
			t.Fatal(err)
		}
		if runs, err := s.Published(ctx); err != nil || len(runs) != 2 || runs[1].Run != r.Run.Run {
			t.Fatalf("published with a lagging hint: %+v, %v", runs, err)
		}
		if err := s.RepairHints(ctx); err != nil {
			t.Fatal(err)
		}
		if data, _ := s.read(ctx, hint); string(data) != "3" {
			t.Fatalf("hint %q after the repair, want 3", data)
		}
	})
}

// Two syncs that started in the same second have one run name: the second
// to commit is refused, not taken for the first.
func TestRunOfTheSameNameByAnotherSyncIsAConflict(t *testing.T) {
	s := openStore(t, t.TempDir())
	commitRun(t, s, 0, feed(tk(1, "a", nil)), nil, Options{UUID: "one"})
	_, err := Commit(context.Background(), s, feed(tk(1, "b", nil)), nil, Options{Started: runAt(0), UUID: "two", Catalog: testFields(), TempDir: t.TempDir()})
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("the same name, another sync: %v", err)
	}
	again := commitRun(t, s, 0, feed(tk(1, "b", nil)), nil, Options{UUID: "one"})
	if !again.Already {
		t.Fatal("the run's own rerun was not recognised")
	}
}

// The same, while the first is between its changes and tickets commits:
// the second must not add its rows of the same run name to changes.
func TestRunOfTheSameNameBeingCommittedIsAConflict(t *testing.T) {
	s := openStore(t, t.TempDir())
	commitRun(t, s, 0, feed(tk(1, "a", nil)), nil, Options{UUID: "zero"})
	paused, resume, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		_, err := Commit(context.Background(), s, feed(tk(1, "b", nil)), nil, Options{Started: runAt(1), UUID: "one", Catalog: testFields(), TempDir: t.TempDir(),
			Pause: func(p string) {
				if p == "committed:"+TableChanges {
					close(paused)
					<-resume
				}
			}})
		done <- err
	}()
	<-paused
	_, err := Commit(context.Background(), s, feed(tk(1, "c", nil)), nil, Options{Started: runAt(1), UUID: "two", Catalog: testFields(), TempDir: t.TempDir()})
	close(resume)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("the same name, being committed by another sync: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the first sync: %v", err)
	}
	st, err := s.tables(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range runsIn(st.changes) {
		if r.Run == RunID(runAt(1)) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("changes holds %d snapshots of run %s, want 1", n, RunID(runAt(1)))
	}
}

func TestTicketTimesOfTheLatestRun(t *testing.T) {
	s := openStore(t, t.TempDir())
	if r, err := s.TicketTimes(context.Background(), nil); r != nil || err != nil {
		t.Fatalf("new dataset: %v, %v", r, err)
	}
	a := tk(1, "a", nil)
	b := tk(2, "b", nil)
	b.UpdatedAt = "2026-12-01 09:00:00 +0800"
	commitRun(t, s, 0, feed(a, b), nil, Options{})
	got := map[int64]string{}
	r, err := s.TicketTimes(context.Background(), func(id int64, at time.Time) error {
		got[id] = at.UTC().Format(time.RFC3339)
		return nil
	})
	if err != nil || r == nil || r.Run != RunID(runAt(0)) || len(got) != 2 || got[1] != "2026-11-30T02:00:00Z" || got[2] != "2026-12-01T01:00:00Z" {
		t.Fatalf("ticket times %v of run %v, %v", got, r, err)
	}
}

// A file written long ago that a snapshot expired just now stays for the
// grace period from its expiry, not from its writing.
func TestExpiredOldFilesStayForTheGracePeriod(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	commitRun(t, s, 0, feed(tk(1, "a", nil)), nil, Options{})
	commitRun(t, s, 1, feed(tk(1, "b", nil)), nil, Options{})
	old := time.Now().Add(-3 * time.Hour)
	err := filepath.WalkDir(filepath.Join(dir, TableTickets), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Chtimes(p, old, old)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	before := keys(t, s, "tickets/data/")
	commitRun(t, s, 2, feed(tk(1, "c", nil)), nil, Options{Keep: 1})
	for _, k := range before {
		if _, err := os.Stat(filepath.Join(dir, k)); err != nil {
			t.Fatalf("%s, expired just now, is gone: %v", k, err)
		}
	}
	if err := s.retain(context.Background(), 1, time.Hour, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(keys(t, s, "tickets/data/")); n != 1 {
		t.Fatalf("%d data files after the grace period, want the kept run's 1", n)
	}
}
