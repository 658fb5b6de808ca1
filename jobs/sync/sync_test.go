package sync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/pipeline/pipelinetest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// change is one kind of edit made to a ticket between two syncs, and the
// column it shows in.
type change struct {
	column string
	edit   func(t *udesktest.Ticket, i int)
}

var changes = []change{
	{"subject", func(t *udesktest.Ticket, i int) { t.Subject = "edited subject " + t.Subject }},
	{"单行文本字段", func(t *udesktest.Ticket, i int) { setField(t, "TextField_1", "edited text") }},
	{"priority", func(t *udesktest.Ticket, i int) {
		if t.Priority == "紧急" {
			t.Priority = "低"
		} else {
			t.Priority = "紧急"
		}
	}},
	{"下拉列表字段", func(t *udesktest.Ticket, i int) {
		if t.CustomFields["SelectField_1"] == "2" {
			setField(t, "SelectField_1", "1")
		} else {
			setField(t, "SelectField_1", "2")
		}
	}},
}

func setField(t *udesktest.Ticket, name, v string) {
	m := maps.Clone(t.CustomFields)
	if m == nil {
		m = map[string]string{}
	}
	m[name] = v
	t.CustomFields = m
}

// Three syncs, with 40 tickets updated, 7 deleted, 12 created and a field
// and an option relabelled before the second, into a folder and into a
// bucket of the S3 test server.
func TestSyncRecordsExactlyTheChanges(t *testing.T) {
	t.Run("folder", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "dataset")
		testExactChanges(t, dir)
	})
	t.Run("s3", func(t *testing.T) {
		bucket, _ := datasettest.StartS3(t)
		testExactChanges(t, bucket+"/reports/tickets")
	})
}

// testExactChanges syncs into target.
func testExactChanges(t *testing.T, target string) {
	tn := newTenant(t, udesktest.Options{Tickets: 5000, Seed: 3})
	opts := tn.options(target)
	opts.StateDir = filepath.Join(t.TempDir(), "state")

	r1, req := tn.syncOK(t, opts)
	if r1.Run.Counts != (dataset.Counts{Tickets: 5000, Inserted: 5000}) || !r1.Full {
		t.Fatalf("first run: %+v", r1.Run)
	}
	if want := 50 + 2; req != want {
		t.Fatalf("first run made %d requests, want ⌈5000/100⌉ + 2 = %d", req, want)
	}

	// 40 updated of four kinds, 7 deleted, 12 created, a field and an
	// option relabelled.
	var updated, deleted, created []int64
	wantCols := map[int64]string{}
	for i := range 40 {
		id := int64(100 + 50*i)
		c := changes[i%len(changes)]
		if !tn.UpdateTicket(id, func(t *udesktest.Ticket) { c.edit(t, i) }) {
			t.Fatalf("no ticket %d", id)
		}
		updated = append(updated, id)
		wantCols[id] = c.column
	}
	for i := range 7 {
		id := int64(3001 + 10*i)
		if !tn.DeleteTicket(id) {
			t.Fatalf("no ticket %d", id)
		}
		deleted = append(deleted, id)
	}
	for i := range 12 {
		created = append(created, tn.CreateTicket(udesktest.Ticket{Subject: "new ticket " + string(rune('a'+i))}))
	}
	if !tn.RelabelField("TextField_1", "备注（新）") || !tn.RelabelOption("SelectField_1", 0, "下拉选项一") {
		t.Fatal("relabel failed")
	}

	r2, req := tn.syncOK(t, opts)
	want := dataset.Counts{Tickets: 5005, Inserted: 12, Updated: 40, Deleted: 7, Unchanged: 5000 - 47}
	if r2.Run.Counts != want {
		t.Fatalf("second run counts %+v, want %+v", r2.Run.Counts, want)
	}
	if want := 51 + 2 + 7; req != want {
		t.Fatalf("second run made %d requests, want ⌈5005/100⌉ + 2 + 7 vanished = %d", req, want)
	}
	if r2.Run.Requests != 0 {
		t.Fatalf("run line requests %d without a counter", r2.Run.Requests)
	}
	var kinds []string
	for _, d := range r2.Drift {
		kinds = append(kinds, d.Kind+" "+d.Field)
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{dataset.DriftOptions + " SelectField_1", dataset.DriftRelabel + " TextField_1"}) {
		t.Fatalf("drift %q", kinds)
	}

	_, chg := table(t, target, dataset.TableChanges, r2.Run.Run)
	for op, ids := range map[string][]int64{dataset.OpInsert: created, dataset.OpUpdate: updated, dataset.OpDelete: deleted} {
		if got := idsOf(chg, op); !slices.Equal(got, sorted(ids)) {
			t.Fatalf("%s ids %v, want %v", op, got, sorted(ids))
		}
	}
	if len(chg) != 12+40+7 {
		t.Fatalf("%d change rows, want 59", len(chg))
	}
	for _, c := range chg {
		if c["op"] == dataset.OpUpdate && c["changed"] != strings.Join(sortedCols(wantCols[idOf(c)], "updated_at"), ",") {
			t.Fatalf("ticket %d changed %q, want %s and updated_at", idOf(c), c["changed"], wantCols[idOf(c)])
		}
	}

	// field_history: the changed column and updated_at of each update, old
	// and new as they were listed.
	header, snap := table(t, target, dataset.TableTickets, r2.Run.Run)
	_, prev := table(t, target, dataset.TableTickets, r1.Run.Run)
	byID := func(rows []map[string]string) map[int64]map[string]string {
		m := map[int64]map[string]string{}
		for _, r := range rows {
			m[idOf(r)] = r
		}
		return m
	}
	now, before := byID(snap), byID(prev)
	_, hist := table(t, target, dataset.TableHistory, r2.Run.Run)
	if len(hist) != 2*40 {
		t.Fatalf("%d history rows, want 80", len(hist))
	}
	for _, h := range hist {
		id, col := idOf(h), h["column"]
		if col != wantCols[id] && col != "updated_at" {
			t.Fatalf("history of ticket %d names %s", id, col)
		}
		if h["new"] != now[id][col] || (col != "下拉列表字段" && h["old"] != before[id][col]) {
			t.Fatalf("history %v: snapshot had %q, now %q", h, before[id][col], now[id][col])
		}
	}
	if !slices.Contains(header, "单行文本字段") || slices.Contains(header, "备注（新）") {
		t.Fatalf("the relabelled field's column: header %q", header)
	}
	for _, id := range deleted {
		if now[id] != nil {
			t.Fatalf("deleted ticket %d is in the snapshot", id)
		}
	}
	if got, want := len(now), len(tn.Tickets()); got != want {
		t.Fatalf("snapshot %d tickets, simulator %d", got, want)
	}

	r3, req := tn.syncOK(t, opts)
	if r3.Run.Counts != (dataset.Counts{Tickets: 5005, Unchanged: 5005}) {
		t.Fatalf("third run counts %+v", r3.Run.Counts)
	}
	if want := 51 + 2; req != want {
		t.Fatalf("third run made %d requests, want %d", req, want)
	}
	for _, tbl := range []string{dataset.TableChanges, dataset.TableHistory} {
		if _, rows := table(t, target, tbl, r3.Run.Run); len(rows) != 0 {
			t.Fatalf("third run: %d rows in %s, want none", len(rows), tbl)
		}
	}
	if runs := published(t, target); len(runs) != 3 || runs[2].Run != r3.Run.Run {
		t.Fatalf("published runs %+v", runs)
	}
}

func sortedCols(cols ...string) []string {
	slices.Sort(cols)
	return cols
}

// Tickets created and deleted while the second sync pages, newest first
// (so creates push every page down): every ticket that lived throughout is
// in the snapshot, and every delete recorded is one the API confirmed.
func TestSyncUnderChurn(t *testing.T) {
	// More threads than cores interleave the page requests in the orders
	// that miss tickets (a page's first read seen, its re-read not): with
	// GOMAXPROCS 4 on two cores the bugs this catches showed most runs.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	tn := newTenant(t, udesktest.Options{Tickets: 3000, Seed: 5, Order: udesktest.OrderNewest,
		Churn: udesktest.Churn{Every: 3, Create: 2, Delete: 2}})
	dir := filepath.Join(t.TempDir(), "dataset")
	opts := tn.options(dir)
	var prev map[int64]bool
	for run := range 2 {
		before := tn.ids()
		rep, _ := tn.syncOK(t, opts)
		after := tn.ids()
		_, snap := table(t, dir, dataset.TableTickets, rep.Run.Run)
		got := map[int64]bool{}
		for _, r := range snap {
			got[idOf(r)] = true
		}
		for id := range before {
			if after[id] && !got[id] {
				t.Fatalf("run %d: ticket %d lived throughout but is not in the snapshot", run+1, id)
			}
		}
		for id := range prev {
			if after[id] && !got[id] {
				t.Fatalf("run %d: ticket %d of the previous snapshot lives but is not in the snapshot", run+1, id)
			}
		}
		_, chg := table(t, dir, dataset.TableChanges, rep.Run.Run)
		for _, id := range idsOf(chg, dataset.OpDelete) {
			if after[id] || !prev[id] {
				t.Fatalf("run %d: delete of ticket %d (alive %v, in the previous snapshot %v)", run+1, id, after[id], prev[id])
			}
		}
		if run == 1 && rep.Run.Counts.Deleted == 0 {
			t.Fatalf("run 2 under churn confirmed no delete: %+v", rep.Run.Counts)
		}
		prev = got
	}
}

func TestChangedFilterMergesIntoThePreviousSnapshot(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 800, Seed: 9})
	dir := filepath.Join(t.TempDir(), "dataset")
	opts := tn.options(dir)
	// The recently updated tickets; every second run full.
	opts.ChangedFilter, opts.FullEvery = udesktest.RecentFilter, 2

	r1, _ := tn.syncOK(t, opts)
	if !r1.Full {
		t.Fatal("the first run must be full")
	}
	all := tn.Tickets()
	for _, tk := range all[:5] {
		tn.UpdateTicket(tk.ID, func(t *udesktest.Ticket) { t.Subject = "edited" })
	}
	created := tn.CreateTicket(udesktest.Ticket{Status: "open", Subject: "new"})
	// The ticket updated longest ago, which the filter does not list: its
	// delete leaves no trace in the filter.
	gone := slices.MinFunc(all, func(a, b udesktest.Ticket) int { return strings.Compare(a.UpdatedAt, b.UpdatedAt) }).ID
	tn.DeleteTicket(gone)

	r2, req := tn.syncOK(t, opts)
	if r2.Full || !strings.HasPrefix(r2.Run.Selector, changedPrefix) {
		t.Fatalf("second run: full %v, selector %q", r2.Full, r2.Run.Selector)
	}
	want := dataset.Counts{Tickets: 801, Inserted: 1, Updated: 5, Unchanged: 795}
	if r2.Run.Counts != want {
		t.Fatalf("changed-filter run counts %+v, want %+v", r2.Run.Counts, want)
	}
	if r2.Read > 400 {
		t.Fatalf("the changed filter listed %d of 801 tickets: not a view of recent updates", r2.Read)
	}
	if want := udesk.ListingRequests(int(r2.Read)); req != want {
		t.Fatalf("changed-filter run made %d requests, want ⌈%d/100⌉ + 2 = %d", req, r2.Read, want)
	}
	_, snap := table(t, dir, dataset.TableTickets, r2.Run.Run)
	ids := idsOf(snap, "")
	if !slices.Contains(ids, created) || !slices.Contains(ids, gone) {
		t.Fatal("the merge lost the new ticket, or dropped the deleted one (deletes wait for a full run)")
	}

	// Third run: the second since the last full one is full again, and
	// finds the delete.
	r3, _ := tn.syncOK(t, opts)
	if !r3.Full || r3.Run.Counts.Deleted != 1 {
		t.Fatalf("third run: full %v, counts %+v", r3.Full, r3.Run.Counts)
	}
}

// A changed filter all of whose tickets were updated after the previous
// run began may not reach back to it: the run fails, commits nothing.
func TestChangedFilterThatMayNotReachBackFails(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 500, Seed: 2})
	dir := filepath.Join(t.TempDir(), "dataset")
	opts := tn.options(dir)
	opts.ChangedFilter = 2 // the urgent tickets
	r1, _ := tn.syncOK(t, opts)
	later := r1.Run.Started.Add(time.Hour).In(time.FixedZone("CST", 8*3600)).Format(udesk.TimestampLayout)
	for _, tk := range tn.Tickets() {
		if tk.Priority == "紧急" {
			tn.UpdateTicket(tk.ID, func(t *udesktest.Ticket) { t.Subject += "!"; t.UpdatedAt = later })
		}
	}
	opts.Now = func() time.Time { return r1.Run.Started.Add(2 * time.Hour) }
	_, err := Run(context.Background(), tn.client, opts)
	var fe *FilterError
	if !errors.As(err, &fe) || !fe.Window || !fe.Previous.Equal(r1.Run.Started) || fe.Ticket == 0 {
		t.Fatalf("got %v, want a FilterError of the window naming the oldest ticket", err)
	}
	if runs := published(t, dir); len(runs) != 1 {
		t.Fatalf("%d runs published after a failed run", len(runs))
	}
}

// A sync of a dataset another run holds (its lease) is refused before any
// request, naming the holder, and leaves the holder's lease alone.
func TestSecondSyncOfADatasetIsRefused(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 10})
	dir := filepath.Join(t.TempDir(), "dataset")
	opts := tn.options(dir)
	s, err := dataset.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	held, err := s.AcquireLease(context.Background(), dataset.LeaseOptions{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(context.Background())
	opts.Dataset = dir + "/" // another spelling of the same dataset
	_, err = Run(context.Background(), tn.client, opts)
	host, _ := os.Hostname()
	var he *dataset.LeaseHeldError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "host "+host) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("got %v, want a refusal naming the holder", err)
	}
	if errors.As(err, new(*pipeline.ResumableError)) {
		t.Fatalf("a refusal offers a resume: %v", err)
	}
	if tn.requests() != 0 {
		t.Fatal("a refused sync sent requests")
	}
	if err := held.Check(); err != nil {
		t.Fatalf("the holder's lease: %v", err)
	}
}

// An interrupted run leaves the dataset as it was and resumes as the same
// run; one older than ResumeWithin starts over.
func TestInterruptedSyncResumesAsTheSameRun(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 2000, Seed: 4})
	dir := filepath.Join(t.TempDir(), "dataset")
	opts := tn.options(dir)
	opts.Concurrency = 1
	tn.syncOK(t, opts)
	tn.UpdateTicket(7, func(t *udesktest.Ticket) { t.Subject = "edited" })

	// Interrupt the second run after a few pages.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now().Add(time.Hour)
	opts.Now = func() time.Time { return start }
	opts.Observer = &pipelinetest.Log{}
	opts.Requests = func() int64 { return int64(tn.requests()) }
	before := tn.requests()
	interrupted := opts
	interrupted.Observer = cancelAfterPlan{&pipelinetest.Log{}, cancel}
	irep, err := Run(ctx, tn.client, interrupted)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if re := (*pipeline.ResumableError)(nil); !errors.As(err, &re) || re.State != irep.State || !strings.Contains(err.Error(), "nothing was committed") {
		t.Errorf("interrupted run: %v, want a ResumableError naming %s, saying nothing was committed", err, irep.State)
	}
	if runs := published(t, dir); len(runs) != 1 {
		t.Fatalf("%d runs published by an interrupted run", len(runs))
	}
	mid := tn.requests()

	later := start.Add(30 * time.Minute)
	opts.Now = func() time.Time { return later }
	rep, err := Run(context.Background(), tn.client, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Run.Run != dataset.RunID(start) || rep.Run.Counts.Updated != 1 {
		t.Fatalf("resumed run %s %+v, want run %s with 1 update", rep.Run.Run, rep.Run.Counts, dataset.RunID(start))
	}
	// A request cancelled on the wire may reach the simulator just after the
	// interrupted attempt saved its count: that one request may be missing.
	if spent := int64(tn.requests() - before); rep.Run.Requests > spent || rep.Run.Requests < spent-1 || mid == before {
		t.Fatalf("the run's line counts %d requests; both attempts made %d (the first %d)", rep.Run.Requests, spent, mid-before)
	}

	// Interrupted again, then resumed after more than ResumeWithin: a new run.
	start2 := start.Add(2 * time.Hour)
	interrupted.Now = func() time.Time { return start2 }
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	interrupted.Observer = cancelAfterPlan{&pipelinetest.Log{}, cancel2}
	if _, err := Run(ctx2, tn.client, interrupted); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	late := start2.Add(DefaultResumeWithin + time.Minute)
	lg := &pipelinetest.Log{}
	opts.Now, opts.Observer = func() time.Time { return late }, lg
	rep, err = Run(context.Background(), tn.client, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Run.Run != dataset.RunID(late) || !strings.Contains(lg.String(), "starting over") {
		t.Fatalf("late rerun: run %s, logs:\n%s", rep.Run.Run, lg.String())
	}
}

// cancelAfterPlan cancels the run when it states its plan: page 1 is read,
// the rest not yet.
type cancelAfterPlan struct {
	*pipelinetest.Log
	cancel context.CancelFunc
}

func (c cancelAfterPlan) Logf(format string, args ...any) {
	c.Log.Logf(format, args...)
	if strings.HasPrefix(fmt.Sprintf(format, args...), "sync plan") {
		c.cancel()
	}
}

// A vanished ticket whose lookup fails is not taken as deleted: the run
// fails and commits nothing.
func TestUnconfirmedDeleteFailsTheRun(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 300, Seed: 6})
	dir := filepath.Join(t.TempDir(), "dataset")
	opts := tn.options(dir)
	tn.syncOK(t, opts)
	tn.DeleteTicket(42)
	tn.FailNext(udesktest.EndpointTicket, udesktest.Fault500, 100)
	c, err := udesk.NewClient(udesk.Config{BaseURL: tn.URL(), Signer: udesk.NewMD5Signer(tn.Secret()), MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), c, opts)
	if err == nil || !strings.Contains(err.Error(), "ticket 42") || !strings.Contains(err.Error(), "not confirmed") {
		t.Fatalf("got %v, want the unconfirmed delete of ticket 42", err)
	}
	if runs := published(t, dir); len(runs) != 1 {
		t.Fatalf("%d runs published", len(runs))
	}
}

func TestSchemaFreezeFailsOnDrift(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 300, Seed: 6})
	dir := filepath.Join(t.TempDir(), "dataset")
	opts := tn.options(dir)
	opts.Schema = dataset.SchemaFreeze
	tn.syncOK(t, opts)
	tn.RelabelField("TextField_2", "说明")
	_, err := Run(context.Background(), tn.client, opts)
	var de *dataset.DriftError
	if !errors.As(err, &de) || len(de.Drift) != 1 || de.Drift[0].Kind != dataset.DriftRelabel {
		t.Fatalf("got %v, want the relabel as drift", err)
	}
	// A rerun would meet the same drift: not resumable.
	if errors.As(err, new(*pipeline.ResumableError)) || !strings.Contains(err.Error(), "nothing was committed") {
		t.Errorf("drift under freeze: %v, want no resume and nothing committed", err)
	}
	if runs := published(t, dir); len(runs) != 1 {
		t.Fatalf("%d runs published under freeze with drift", len(runs))
	}
	opts.Schema = dataset.SchemaEvolve
	rep, _ := tn.syncOK(t, opts)
	if len(rep.Drift) != 1 || !strings.Contains(strings.Join(rep.Notes, "\n"), "drift: relabelled field TextField_2") {
		t.Fatalf("evolve run: drift %v, notes %q", rep.Drift, rep.Notes)
	}
}

// A changed filter that changes while it is read may leave tickets out,
// which a merge would not look up: the run fails, commits nothing.
func TestChangedFilterThatChangesWhileReadFails(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 1000, Seed: 4, Churn: udesktest.Churn{Every: 1, Create: 6, Delete: 6}})
	dir := filepath.Join(t.TempDir(), "dataset")
	opts := tn.options(dir)
	opts.ChangedFilter = udesktest.RecentFilter
	tn.syncOK(t, opts)
	_, err := Run(context.Background(), tn.client, opts)
	if err == nil || !strings.Contains(err.Error(), "changed while it was read") {
		t.Fatalf("got %v, want the incomplete listing refused", err)
	}
	if runs := published(t, dir); len(runs) != 1 {
		t.Fatalf("%d runs published", len(runs))
	}
}
