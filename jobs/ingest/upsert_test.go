package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/jobs/listing/listingtest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// upsertHeader is a migration's file: the source id in a text custom field
// named by its label, values as another system would write them.
var upsertHeader = []string{"subject", "content", "email", "status", "priority", "单行文本字段", "下拉列表字段", "日期字段"}

const keyField = "TextField_1"

// sourceRow is source ticket i as the old helpdesk exports it.
func sourceRow(i int) []string {
	return []string{fmt.Sprintf("工单 %d", i), fmt.Sprintf("内容 %d", i), fmt.Sprintf("c%d@example.com", i%50),
		"open", "标准", fmt.Sprintf("SRC-%05d", i), "下拉选项2", "2016-08-11"}
}

func writeSource(t *testing.T, path string, rows [][]string) {
	t.Helper()
	ingesttest.WriteCSV(t, path, append([][]string{upsertHeader}, rows...))
}

func upsert(t *testing.T, sim *udesktest.Server, path string, opts ingest.Options) *ingest.Report {
	t.Helper()
	opts.UpsertKey = "单行文本字段"
	rep, err := runImport(t, sim, 0, ingest.Input{Path: path}, opts)
	if err != nil {
		t.Fatalf("upsert %s: %v", path, err)
	}
	return rep
}

// writes is the write requests the simulator received since before: the
// bodies of creates and of updates.
func writes(sim *udesktest.Server, before int) (creates []string, updates []string) {
	for _, r := range sim.Log()[before:] {
		switch r.Endpoint {
		case udesktest.EndpointCreate:
			creates = append(creates, r.Body)
		case udesktest.EndpointUpdate:
			updates = append(updates, r.Path+" "+r.Body)
		}
	}
	return creates, updates
}

// byKey is the simulator's tickets by their key.
func byKey(sim *udesktest.Server) map[string][]udesktest.Ticket {
	m := map[string][]udesktest.Ticket{}
	for _, tk := range sim.Tickets() {
		if k := tk.CustomFields[keyField]; strings.HasPrefix(k, "SRC-") {
			m[k] = append(m[k], tk)
		}
	}
	return m
}

// updateFields is the fields an update request's body sets.
func updateFields(t *testing.T, body string) []string {
	t.Helper()
	var b struct{ Ticket map[string]json.RawMessage }
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("update body %s: %v", body, err)
	}
	var out []string
	for k, v := range b.Ticket {
		if k != "custom_fields" {
			out = append(out, k)
			continue
		}
		var cf map[string]string
		json.Unmarshal(v, &cf)
		for f := range cf {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// A migration, then the same file again, then a newer export as a delta:
// each run sends exactly what differs, and each update only the changed
// fields; values are compared as values, not as strings.
func TestUpsertMigrationAndDelta(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 creates")
	}
	sim := newSim(t, udesktest.Options{Tickets: 5000})
	dir := t.TempDir()
	in := filepath.Join(dir, "source.csv")
	var rows [][]string
	for i := range 2000 {
		rows = append(rows, sourceRow(i))
	}
	writeSource(t, in, rows)

	rep := upsert(t, sim, in, ingest.Options{})
	creates, updates := writes(sim, 0)
	if len(creates) != 2000 || len(updates) != 0 || rep.Written != 2000 || rep.Failed != 0 {
		t.Fatalf("first upsert: %d creates, %d updates, report %+v", len(creates), len(updates), rep.Report)
	}
	// ⌈5000/100⌉ pages and page 1 again (the field catalog is read apart).
	if got, want := sim.Requests()[udesktest.EndpointList], udesk.ListingRequests(5000)-1; got != want {
		t.Errorf("the key index took %d listing requests, want %d", got, want)
	}
	keys := byKey(sim)
	if len(keys) != 2000 {
		t.Fatalf("%d keys on the server, want 2000", len(keys))
	}
	ok := ingesttest.ReadCSV(t, filepath.Join(rep.Results, "success.csv"))
	keyCol := slices.Index(ok[0], "单行文本字段")
	if len(ok) != 2001 || ok[0][0] != "row" || keyCol < 0 {
		t.Fatalf("success.csv: %d lines, header %v", len(ok), ok[0])
	}
	for _, r := range ok[1:] {
		if tk := keys[r[keyCol]]; len(tk) != 1 || fmt.Sprint(tk[0].ID) != r[1] || r[2] != ingest.ActionCreated {
			t.Fatalf("success.csv row %v: the key's ticket is %v", r, tk)
		}
	}

	// The same file again: nothing differs, nothing is written.
	before := len(sim.Log())
	rep = upsert(t, sim, in, ingest.Options{})
	creates, updates = writes(sim, before)
	if len(creates) != 0 || len(updates) != 0 || rep.Written != 0 || rep.Skipped != 2000 {
		t.Fatalf("same file again: %d creates, %d updates, report %+v", len(creates), len(updates), rep.Report)
	}
	ok = ingesttest.ReadCSV(t, filepath.Join(rep.Results, "success.csv"))
	if len(ok) != 2001 || ok[1][2] != ingest.ActionUnchanged {
		t.Errorf("success.csv of the unchanged run: %d lines, first %v", len(ok), ok[1])
	}

	// A newer export: 30 rows with a new subject, 5 with a new status, 10
	// new rows; every other row written differently but meaning the same.
	newer := filepath.Join(dir, "newer.csv")
	var next [][]string
	for i := range 2010 {
		r := sourceRow(i)
		r[4] = "medium"    // 标准
		r[6] = "1"         // option index of 下拉选项2
		r[7] = "2016/8/11" // 2016-08-11
		switch {
		case i < 30:
			r[0] += " (修订)"
		case i < 35:
			r[3] = "已解决"
		}
		next = append(next, r)
	}
	writeSource(t, newer, next)
	before = len(sim.Log())
	rep = upsert(t, sim, newer, ingest.Options{})
	creates, updates = writes(sim, before)
	if len(creates) != 10 || len(updates) != 35 || rep.Failed != 0 {
		t.Fatalf("delta: %d creates, %d updates (want 10 and 35), report %+v", len(creates), len(updates), rep.Report)
	}
	var subj, status int
	for _, u := range updates {
		switch f := updateFields(t, u[strings.Index(u, " ")+1:]); fmt.Sprint(f) {
		case "[subject]":
			subj++
		case "[status]":
			status++
		default:
			t.Errorf("update %s sets %v, want only the changed field", u, f)
		}
	}
	if subj != 30 || status != 5 {
		t.Errorf("%d subject updates, %d status updates; want 30 and 5", subj, status)
	}
	keys = byKey(sim)
	if len(keys) != 2010 {
		t.Errorf("%d keys, want 2010", len(keys))
	}
	for i, r := range next {
		tk := keys[r[5]]
		if len(tk) != 1 || tk[0].Subject != r[0] || (i >= 30 && i < 35) != (tk[0].Status == "resolved") {
			t.Errorf("key %s: tickets %+v, want one with the row's values %v", r[5], tk, r)
		}
	}
}

// The repairs a row can need: no key, a key twice in the file, a key several
// tickets hold.
func TestUpsertRowErrors(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	for range 2 {
		sim.CreateTicket(udesktest.Ticket{Subject: "twin", CustomFields: map[string]string{keyField: "SRC-00007"}})
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "source.csv")
	noKey := sourceRow(1)
	noKey[5] = ""
	writeSource(t, in, [][]string{sourceRow(0), noKey, sourceRow(0), sourceRow(7), sourceRow(2)})
	rep := upsert(t, sim, in, ingest.Options{Results: filepath.Join(dir, "res")})
	if rep.Written != 2 || rep.Failed != 3 {
		t.Fatalf("report %+v", rep.Report)
	}
	errs := ingesttest.ReadCSV(t, filepath.Join(dir, "res", "errors.csv"))
	code := len(upsertHeader)
	want := map[string]string{"": ingest.CodeInvalid, "SRC-00000": mapping.CodeDuplicate, "SRC-00007": ingest.CodeDuplicateKey}
	for _, e := range errs[1:] {
		if want[e[5]] != e[code] {
			t.Errorf("errors.csv %v: code %s, want %s", e, e[code], want[e[5]])
		}
		delete(want, e[5])
	}
	if len(want) != 0 {
		t.Errorf("errors.csv %v lacks %v", errs, want)
	}
}

// --limit runs a pilot of the first rows; the same import without it goes on
// after them and sends none of them again.
func TestUpsertLimitThenTheRest(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 30})
	dir := t.TempDir()
	in := filepath.Join(dir, "source.csv")
	var rows [][]string
	for i := range 25 {
		rows = append(rows, sourceRow(i))
	}
	writeSource(t, in, rows)
	rep := upsert(t, sim, in, ingest.Options{Limit: 10})
	if rep.Read != 10 || rep.Written != 10 || len(byKey(sim)) != 10 || !strings.Contains(strings.Join(rep.Notes, "\n"), "--limit 10") {
		t.Fatalf("pilot: report %+v, %d keys", rep.Report, len(byKey(sim)))
	}
	lists := sim.Requests()[udesktest.EndpointList]
	rep = upsert(t, sim, in, ingest.Options{})
	creates, _ := writes(sim, 0)
	if rep.Written != 15 || rep.Skipped != 10 || len(creates) != 25 {
		t.Fatalf("the rest: report %+v, %d creates in all", rep.Report, len(creates))
	}
	if sim.Requests()[udesktest.EndpointList] == lists {
		t.Errorf("the continued run reused the pilot's key index: keys created since would get a second ticket")
	}
	keys := byKey(sim)
	for _, r := range rows {
		if len(keys[r[5]]) != 1 {
			t.Errorf("key %s: %d tickets", r[5], len(keys[r[5]]))
		}
	}
	ok := ingesttest.ReadCSV(t, filepath.Join(rep.Results, "success.csv"))
	if len(ok) != 26 {
		t.Errorf("success.csv lists %d rows, want 25", len(ok)-1)
	}
}

// A create whose reply never came, from a row without an email to look its
// customer up by, is settled by its key when the import runs again: one
// ticket per key.
func TestUpsertSettlesACreateInDoubtByItsKey(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := filepath.Join(dir, "source.csv")
	var rows [][]string
	for i := range 4 {
		r := sourceRow(i)
		r[2] = "" // no email: the customer's tickets cannot be read
		rows = append(rows, r)
	}
	writeSource(t, in, rows)
	sim.FailNext(udesktest.EndpointCreate, udesktest.FaultResetAfter, 1)
	rep := upsert(t, sim, in, ingest.Options{Concurrency: 1})
	if rep.Failed != 1 {
		t.Fatalf("first run: report %+v", rep.Report)
	}
	upsert(t, sim, in, ingest.Options{})
	keys := byKey(sim)
	for _, r := range rows {
		if len(keys[r[5]]) != 1 {
			t.Errorf("key %s: %d tickets, want 1", r[5], len(keys[r[5]]))
		}
	}
}

// rollback.csv, written before the first update, restores every field an
// upsert changed that the API can restore.
func TestUpsertRollbackRestores(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := filepath.Join(dir, "source.csv")
	var rows [][]string
	for i := range 40 {
		rows = append(rows, sourceRow(i))
	}
	writeSource(t, in, rows)
	upsert(t, sim, in, ingest.Options{})
	before := map[int64]udesktest.Ticket{}
	for _, tk := range sim.Tickets() {
		before[tk.ID] = tk
	}

	newer := filepath.Join(dir, "newer.csv")
	for i := range 30 {
		r := rows[i]
		r[0] += " v2"
		r[3] = []string{"resolved", "solving", "closed"}[i%3]
		r[4] = "紧急"
		r[6] = "下拉选项3"
		r[7] = "2020-01-02"
	}
	writeSource(t, newer, rows)
	res := filepath.Join(dir, "res")
	rep := upsert(t, sim, newer, ingest.Options{Results: res})
	if rep.Facts["updates"] != 30 {
		t.Fatalf("report %+v", rep.Report)
	}
	rb := filepath.Join(res, "rollback.csv")
	recs := ingesttest.ReadCSV(t, rb)
	if len(recs) != 31 || recs[0][0] != "id" {
		t.Fatalf("rollback.csv: %v", recs)
	}
	changed := 0
	for _, tk := range sim.Tickets() {
		if tk.Subject != before[tk.ID].Subject {
			changed++
		}
	}
	if changed != 30 {
		t.Fatalf("%d tickets changed by the upsert, want 30", changed)
	}

	rep = mustImport(t, sim, mapping.Update, ingest.Input{Path: rb}, ingest.Options{Results: filepath.Join(dir, "undo")}, 0)
	if rep.Written != 30 {
		t.Fatalf("rollback: report %+v", rep.Report)
	}
	for _, tk := range sim.Tickets() {
		b := before[tk.ID]
		if tk.Subject != b.Subject || tk.Status != b.Status || tk.Priority != b.Priority ||
			tk.CustomFields["SelectField_1"] != b.CustomFields["SelectField_1"] || tk.CustomFields["TextField_3"] != b.CustomFields["TextField_3"] {
			t.Errorf("ticket %d after the rollback: %+v, before the upsert %+v", tk.ID, tk, b)
		}
	}
}

// The dry run of an upsert lists the keys and prints the plan: creates,
// updates with their diff, unchanged, and the requests.
func TestUpsertPlan(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 250})
	dir := t.TempDir()
	in := filepath.Join(dir, "source.csv")
	writeSource(t, in, [][]string{sourceRow(0), sourceRow(1)})
	upsert(t, sim, in, ingest.Options{})
	changed := sourceRow(1)
	changed[0] = "新标题"
	noKey := sourceRow(3)
	noKey[5] = ""
	writeSource(t, in, [][]string{sourceRow(0), changed, sourceRow(2), noKey})
	before := len(sim.Log())
	p, err := ingest.Plan(context.Background(), newClient(t, sim), ingest.Input{Path: in},
		ingest.Options{UpsertKey: keyField, Tenant: sim.URL(), Results: filepath.Join(dir, "dry")})
	if err != nil {
		t.Fatal(err)
	}
	if c, u := writes(sim, before); len(c)+len(u) != 0 {
		t.Fatalf("the dry run wrote: %v %v", c, u)
	}
	var out bytes.Buffer
	p.Print(&out, udesk.Rate{Limit: 1, Burst: 1}, "60/min")
	text := out.String()
	for _, want := range []string{"252 tickets listed in 4 requests", "#", "subject: 工单 1 -> 新标题",
		"1 rows create a ticket, 1 update one (1 fields), 1 unchanged", "+ 4 listing pages", "1 rejected"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	if p.Creates != 1 || p.Updates != 1 || p.Unchanged != 1 || p.Failed != 1 || p.ListRequests != 4 { // 3 pages and page 1 again
		t.Errorf("plan %+v", p)
	}
	if _, err := os.Stat(filepath.Join(dir, "dry", "errors.csv")); err != nil {
		t.Error(err)
	}
}

// A create an interrupted run sent without learning its outcome (an intent
// alone in the journal) is settled by listing the tickets again: found by
// its key, it is not sent again.
func TestUpsertResumeSettlesAnIntentByItsKey(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 10})
	dir := t.TempDir()
	in := filepath.Join(dir, "source.csv")
	var rows [][]string
	for i := range 5 {
		r := sourceRow(i)
		r[2] = ""
		rows = append(rows, r)
	}
	writeSource(t, in, rows)
	rep := upsert(t, sim, in, ingest.Options{Limit: 2})
	// The interrupted run: row 4's create took effect, its reply was lost.
	id := sim.CreateTicket(udesktest.Ticket{Subject: rows[2][0], Content: rows[2][1], CustomFields: map[string]string{keyField: rows[2][5]}})
	j, _, err := pipeline.OpenJournal(filepath.Join(rep.State, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	j.Append(pipeline.JournalEntry{Type: pipeline.EntryIntent, Row: 4, At: time.Now()})
	j.Close()
	before := len(sim.Log())
	rep = upsert(t, sim, in, ingest.Options{})
	creates, _ := writes(sim, before)
	if len(creates) != 2 || rep.Written != 2 || rep.Skipped != 3 {
		t.Fatalf("resumed run: %d creates (want 2), report %+v", len(creates), rep.Report)
	}
	keys := byKey(sim)
	for _, r := range rows {
		if len(keys[r[5]]) != 1 {
			t.Errorf("key %s: %d tickets, want 1", r[5], len(keys[r[5]]))
		}
	}
	ok := ingesttest.ReadCSV(t, filepath.Join(rep.Results, "success.csv"))
	if ok[3][0] != "4" || ok[3][1] != fmt.Sprint(id) || ok[3][2] != ingest.ActionCreated {
		t.Errorf("success.csv row 4: %v, want ticket %d created", ok[3], id)
	}
}

// 300 keyed tickets among 4,000, 3 created and 2 deleted before every page
// the key index reads, either order: no row is refused as duplicate_key (no two tickets
// hold a key), and no key whose ticket lived through the run gets a second
// ticket; each new key gets one.
func TestUpsertUnderChurn(t *testing.T) {
	for i := range 2 * listingtest.Seeds() {
		order, seed := []string{udesktest.OrderOldest, udesktest.OrderNewest}[i%2], int64(i)
		t.Run(fmt.Sprintf("%s/seed=%d", order, seed), func(t *testing.T) {
			sim := newSim(t, udesktest.Options{Tickets: 4000, Seed: seed, Order: order, Churn: udesktest.Churn{Every: 1, Create: 3, Delete: 2}})
			holder := map[string]int64{}
			for i := range 300 {
				id, key := int64(1+i*13), fmt.Sprintf("SRC-%05d", i)
				holder[key] = id
				sim.UpdateTicket(id, func(tk *udesktest.Ticket) { tk.CustomFields[keyField] = key })
			}
			before := listingtest.Live(sim, "")
			dir := t.TempDir()
			in := filepath.Join(dir, "source.csv")
			var rows [][]string
			for i := range 400 { // 300 keys held, 100 new
				rows = append(rows, sourceRow(i))
			}
			writeSource(t, in, rows)
			rep := upsert(t, sim, in, ingest.Options{Results: filepath.Join(dir, "res")})
			if rep.Failed > 0 {
				errs := ingesttest.ReadCSV(t, filepath.Join(dir, "res", "errors.csv"))
				code := len(upsertHeader)
				for _, e := range errs[1:] {
					if e[code] == ingest.CodeDuplicateKey {
						t.Errorf("row refused as %s though no two tickets hold its key: %v", e[code], e)
					}
				}
			}
			lived := listingtest.Throughout(sim, "", before)
			keys := byKey(sim)
			for _, r := range rows {
				key := r[5]
				id, held := holder[key]
				switch {
				case held && lived[id] && (len(keys[key]) != 1 || keys[key][0].ID != id):
					t.Errorf("key %s: %d tickets, want only #%d, which held it throughout", key, len(keys[key]), id)
				case !held && len(keys[key]) != 1:
					t.Errorf("new key %s: %d tickets, want 1", key, len(keys[key]))
				}
			}
		})
	}
}

// A key created in Udesk between a --limit pilot and its continuation gets
// no second ticket: the continuation lists the keys again.
func TestUpsertLimitContinuationSeesKeysCreatedMeanwhile(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 30})
	in := filepath.Join(t.TempDir(), "source.csv")
	var rows [][]string
	for i := range 25 {
		rows = append(rows, sourceRow(i))
	}
	writeSource(t, in, rows)
	upsert(t, sim, in, ingest.Options{Limit: 10})
	meanwhile := sim.CreateTicket(udesktest.Ticket{Subject: "made by hand", CustomFields: map[string]string{keyField: "SRC-00020"}})
	rep := upsert(t, sim, in, ingest.Options{})
	if rep.Failed != 0 {
		t.Fatalf("the rest: report %+v", rep.Report)
	}
	keys := byKey(sim)
	if got := keys["SRC-00020"]; len(got) != 1 || got[0].ID != meanwhile {
		t.Errorf("key SRC-00020: %d tickets, want only #%d, made between the runs", len(got), meanwhile)
	}
	if got := keys["SRC-00020"]; len(got) == 1 && got[0].Subject != rows[20][0] {
		t.Errorf("#%d subject %q, want the row's %q: it was updated", meanwhile, got[0].Subject, rows[20][0])
	}
	for _, r := range rows {
		if len(keys[r[5]]) != 1 {
			t.Errorf("key %s: %d tickets", r[5], len(keys[r[5]]))
		}
	}
}

// A key with spaces around it matches its ticket, and is written as it is
// compared: trimmed, on an update and on a create alike.
func TestUpsertKeyIsWrittenTrimmed(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	held := sim.CreateTicket(udesktest.Ticket{Subject: "old", CustomFields: map[string]string{keyField: "SRC-00001"}})
	in := filepath.Join(t.TempDir(), "source.csv")
	update, create := sourceRow(1), sourceRow(2)
	update[5], create[5] = "  SRC-00001 ", " SRC-00002\t"
	writeSource(t, in, [][]string{update, create})
	rep := upsert(t, sim, in, ingest.Options{})
	if rep.Written != 2 || rep.Failed != 0 {
		t.Fatalf("report %+v", rep.Report)
	}
	keys := byKey(sim)
	if got := keys["SRC-00001"]; len(got) != 1 || got[0].ID != held || got[0].Subject != update[0] {
		t.Errorf("key SRC-00001: tickets %+v, want #%d updated", got, held)
	}
	if got := keys["SRC-00002"]; len(got) != 1 {
		t.Errorf("key SRC-00002: %d tickets, want 1 created with the key trimmed", len(got))
	}
	for _, tk := range sim.Tickets() {
		if k := tk.CustomFields[keyField]; k != strings.TrimSpace(k) {
			t.Errorf("ticket %d holds the key %q, spaces and all", tk.ID, k)
		}
	}
}
