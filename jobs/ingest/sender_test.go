package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// fakeAPI is an in-memory Udesk whose writes can be made to fail after (or
// before) taking effect.
type fakeAPI struct {
	mu      sync.Mutex
	tickets []udesk.Ticket
	lastID  int64
	replies map[int64][]string
	calls   map[string]int
	// fail, when set, decides per call whether it errs and whether the
	// write takes effect anyway.
	fail func(method string, n int) (err error, applied bool)
	// beforePage, when set, runs before the n-th page is served (the lock
	// held): tickets come and go between the pages of a listing.
	beforePage func(n int)
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{replies: map[int64][]string{}, calls: map[string]int{}}
}

func (f *fakeAPI) check(method string) (error, bool) {
	f.calls[method]++
	if f.fail == nil {
		return nil, true
	}
	return f.fail(method, f.calls[method])
}

func (f *fakeAPI) CreateTicket(ctx context.Context, t *udesk.NewTicket) (int64, error) {
	if err := udesk.BeforeSend(ctx); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	err, applied := f.check("create")
	var id int64
	if applied {
		f.lastID++
		id = f.lastID
		cf := udesk.CustomFields{}
		for k, v := range t.TicketField {
			cf[k] = v
		}
		f.tickets = append(f.tickets, udesk.Ticket{ID: id, Subject: t.Subject, Content: t.Content, UserEmail: t.Email,
			Priority: t.Priority, CustomFields: cf, CreatedAt: time.Now().Format("2006-01-02 15:04:05 -0700")})
	}
	if err != nil {
		return 0, err
	}
	return id, nil
}

func (f *fakeAPI) UpdateTicket(ctx context.Context, id int64, u *udesk.TicketUpdate) error {
	if err := udesk.BeforeSend(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	err, applied := f.check("update")
	if applied && u.Comment != nil {
		f.replies[id] = append(f.replies[id], u.Comment.Body)
	}
	return err
}

func (f *fakeAPI) Reply(ctx context.Context, r *udesk.Reply) error {
	if err := udesk.BeforeSend(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	err, applied := f.check("reply")
	if applied {
		f.replies[r.ID] = append(f.replies[r.ID], r.ReplyContent)
	}
	return err
}

func (f *fakeAPI) Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["page"]++
	if f.beforePage != nil {
		f.beforePage(f.calls["page"])
	}
	var mine []udesk.Ticket
	for _, t := range f.tickets {
		if t.UserEmail == l.CustomerEmail {
			mine = append(mine, t)
		}
	}
	if len(mine) == 0 {
		return nil, &udesk.Error{Code: 1002, Message: "未找到相应客户", Class: udesk.Permanent}
	}
	p := &udesk.Page{Total: len(mine), TotalPages: (len(mine) + perPage - 1) / perPage}
	lo, hi := (page-1)*perPage, page*perPage
	if lo < len(mine) {
		p.Tickets = mine[lo:min(hi, len(mine))]
	}
	p.Size = len(p.Tickets)
	return p, nil
}

// PageHead is Page as a reply body decodes: what the listing reader reads.
func (f *fakeAPI) PageHead(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.PageHead, error) {
	p, err := f.Page(ctx, l, page, perPage)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]any{"status": 0, "size": p.Size, "total": p.Total, "total_pages": p.TotalPages, "contents": p.Tickets})
	if err != nil {
		return nil, err
	}
	return udesk.DecodePageHead(body)
}

// Ticket is ticket id, or Udesk's error for an id it does not know.
func (f *fakeAPI) Ticket(ctx context.Context, id int64) (*udesk.Ticket, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tickets {
		if t.ID == id {
			return &t, nil
		}
	}
	return nil, &udesk.Error{Code: udesk.StatusTicketNotFound, Message: "未找到相应工单", Class: udesk.Permanent}
}

var errUnknown = &udesk.Error{Method: "POST", Path: "/api/v1/tickets.json", Class: udesk.OutcomeUnknown, Err: context.DeadlineExceeded}

func createOp(row int, subject, email string) mapping.Operation {
	return mapping.Operation{Pos: pipeline.Position{File: "in.csv", Row: row}, Kind: mapping.Create,
		Create: &udesk.NewTicket{Subject: subject, Content: "body of " + subject, Email: email}}
}

type sinkRun struct {
	sink    *sender
	journal string
	mu      sync.Mutex
	results map[int]result
}

func startSink(t *testing.T, api ticketWriter, opts senderOptions) *sinkRun {
	t.Helper()
	r := &sinkRun{journal: filepath.Join(t.TempDir(), "journal.jsonl"), results: map[int]result{}}
	j, err := pipeline.CreateJournal(r.journal, pipeline.JournalHeader{Op: "test", RunID: "run1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	opts.journal, opts.runID = j, "run1"
	opts.onResult = func(res result) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, dup := r.results[res.row]; dup {
			t.Errorf("row %d reported twice", res.row)
		}
		r.results[res.row] = res
	}
	r.sink = startSender(context.Background(), api, opts, nil)
	return r
}

// settledCount is how many rows a look-up found already written.
func (s *sender) settledCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settled
}

func TestSenderCreateOutcomeUnknownIsSettled(t *testing.T) {
	api := newFakeAPI()
	// Every other create fails after it was applied (a reset after
	// processing); row 3's first attempt fails before it was applied.
	api.fail = func(method string, n int) (error, bool) {
		switch n {
		case 1, 3:
			return errUnknown, true
		case 2:
			return errUnknown, false
		}
		return nil, true
	}
	r := startSink(t, api, senderOptions{concurrency: 1})
	for row := 2; row <= 5; row++ {
		if err := r.sink.send(createOp(row, "s", "a@x.com"), pipeline.JournalEntry{}); err != nil { // identical rows on purpose
			t.Fatal(err)
		}
	}
	if err := r.sink.close(); err != nil {
		t.Fatal(err)
	}
	if len(api.tickets) != 4 {
		t.Fatalf("4 identical rows must make exactly 4 tickets, got %d", len(api.tickets))
	}
	ids := map[int64]int{}
	for row := 2; row <= 5; row++ {
		res := r.results[row]
		if res.action != ActionCreated || res.ticketID == 0 {
			t.Fatalf("row %d: %+v", row, res)
		}
		ids[res.ticketID]++
	}
	if len(ids) != 4 {
		t.Fatalf("each row must own a distinct ticket: %v", ids)
	}
	if r.sink.settledCount() != 2 {
		t.Fatalf("2 creates were found by look-up, settled %d", r.sink.settledCount())
	}
	st, err := pipeline.ReadJournal(r.journal)
	if err != nil {
		t.Fatal(err)
	}
	if st.Count(pipeline.EntryOK) != 4 {
		t.Fatalf("journal: %d ok", st.Count(pipeline.EntryOK))
	}
}

func TestSenderMarkerSettles(t *testing.T) {
	api := newFakeAPI()
	api.fail = func(method string, n int) (error, bool) {
		if n == 1 {
			return errUnknown, true
		}
		return nil, true
	}
	r := startSink(t, api, senderOptions{concurrency: 2, markerField: "TextField_1"})
	for row := 2; row <= 3; row++ {
		if err := r.sink.send(createOp(row, "same", "a@x.com"), pipeline.JournalEntry{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.sink.close(); err != nil {
		t.Fatal(err)
	}
	if len(api.tickets) != 2 {
		t.Fatalf("got %d tickets, want 2", len(api.tickets))
	}
	for _, tk := range api.tickets {
		row := 0
		for r := 2; r <= 3; r++ {
			if tk.CustomFields["TextField_1"] == marker("run1", r) {
				row = r
			}
		}
		if row == 0 || r.results[row].ticketID != tk.ID {
			t.Fatalf("ticket %d marker %q not matched to its row: %+v", tk.ID, tk.CustomFields["TextField_1"], r.results)
		}
	}
}

func TestSenderRepliesAndCommentsNeverResent(t *testing.T) {
	api := newFakeAPI()
	api.fail = func(method string, n int) (error, bool) {
		if n == 1 {
			return errUnknown, true
		}
		return nil, true
	}
	r := startSink(t, api, senderOptions{concurrency: 1})
	ops := []mapping.Operation{
		{Pos: pipeline.Position{Row: 2}, Kind: mapping.Reply, ID: 7, Reply: &udesk.Reply{ID: 7, ReplyContent: "r1", Email: "a@x.com"}},
		{Pos: pipeline.Position{Row: 3}, Kind: mapping.Reply, ID: 7, Reply: &udesk.Reply{ID: 7, ReplyContent: "r2", Email: "a@x.com"}},
		{Pos: pipeline.Position{Row: 4}, Kind: mapping.Update, ID: 8, Update: &udesk.TicketUpdate{Comment: &udesk.Comment{Function: "internal", AuthorEmail: "ag@x.com", Body: "c1"}}},
		{Pos: pipeline.Position{Row: 5}, Kind: mapping.Update, ID: 9, Update: &udesk.TicketUpdate{Status: "closed"}},
	}
	for _, op := range ops {
		if err := r.sink.send(op, pipeline.JournalEntry{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.sink.close(); err != nil {
		t.Fatal(err)
	}
	if got := api.replies[7]; len(got) != 2 {
		t.Fatalf("replies to 7: %v (the unknown one must not be resent)", got)
	}
	if r.results[2].code != CodeOutcomeUnknown || r.results[3].action != ActionReplied {
		t.Fatalf("reply results: %+v %+v", r.results[2], r.results[3])
	}
	if r.results[4].code != CodeOutcomeUnknown || r.results[5].action != ActionUpdated {
		t.Fatalf("update results: %+v %+v", r.results[4], r.results[5])
	}
	// A commented update that failed unknown and a plain one: the plain one
	// (idempotent) is simply resent.
	api2 := newFakeAPI()
	api2.fail = func(method string, n int) (error, bool) {
		if n <= 2 {
			return errUnknown, true
		}
		return nil, true
	}
	r2 := startSink(t, api2, senderOptions{concurrency: 1})
	r2.sink.send(ops[2], pipeline.JournalEntry{})
	r2.sink.send(ops[3], pipeline.JournalEntry{})
	if err := r2.sink.close(); err != nil {
		t.Fatal(err)
	}
	if r2.results[4].code != CodeOutcomeUnknown || r2.results[5].action != ActionUpdated || api2.calls["update"] != 3 {
		t.Fatalf("commented update %+v, plain update %+v, %d update calls", r2.results[4], r2.results[5], api2.calls["update"])
	}
}

func TestSenderSettlesInDoubtRows(t *testing.T) {
	api := newFakeAPI()
	// A crash earlier: row 2 was created, row 3 never arrived, row 4 has no
	// email, row 5 went to a customer who does not exist yet.
	api.CreateTicket(context.Background(), createOp(2, "two", "a@x.com").Create)
	api.calls["create"] = 0
	r := startSink(t, api, senderOptions{concurrency: 2})
	at := time.Now().Add(-time.Minute)
	for _, op := range []mapping.Operation{createOp(2, "two", "a@x.com"), createOp(3, "three", "a@x.com"), createOp(4, "four", ""), createOp(5, "five", "new@x.com")} {
		r.sink.send(op, pipeline.JournalEntry{Type: pipeline.EntryIntent, Row: op.Pos.Row, At: at})
	}
	if err := r.sink.close(); err != nil {
		t.Fatal(err)
	}
	if r.results[2].foundBy == "" || r.results[2].ticketID != 1 {
		t.Fatalf("row 2 must be found as ticket 1: %+v", r.results[2])
	}
	if r.results[3].action != ActionCreated || r.results[5].action != ActionCreated || api.calls["create"] != 2 {
		t.Fatalf("rows 3 and 5 must be created once each: %+v %+v, %d creates", r.results[3], r.results[5], api.calls["create"])
	}
	if r.results[4].code != CodeOutcomeUnknown {
		t.Fatalf("row 4 (no email) must be reported unknown: %+v", r.results[4])
	}
	var subjects []string
	for _, tk := range api.tickets {
		subjects = append(subjects, tk.Subject)
	}
	sort.Strings(subjects)
	if len(subjects) != 3 {
		t.Fatalf("tickets: %v", subjects)
	}
}

func TestSenderErrors(t *testing.T) {
	api := newFakeAPI()
	api.fail = func(method string, n int) (error, bool) {
		if n == 1 {
			return &udesk.Error{HTTPStatus: 200, Code: 1003, Message: "未找到相应工单", Method: "PUT", Path: "/api/v1/tickets/99.json", Class: udesk.Permanent}, false
		}
		return &udesk.Error{HTTPStatus: 503, Class: udesk.Transient, Attempts: 6}, false
	}
	r := startSink(t, api, senderOptions{concurrency: 1})
	r.sink.send(mapping.Operation{Pos: pipeline.Position{Row: 2}, Kind: mapping.Update, ID: 99, Update: &udesk.TicketUpdate{Status: "open"}}, pipeline.JournalEntry{})
	r.sink.send(mapping.Operation{Pos: pipeline.Position{Row: 3}, Kind: mapping.Update, ID: 5, Update: &udesk.TicketUpdate{Status: "open"}}, pipeline.JournalEntry{})
	err := r.sink.close()
	if err == nil || !udesk.IsTransient(err) {
		t.Fatalf("a transient failure after retries must stop the run: %v", err)
	}
	if res := r.results[2]; res.code != "api_1003" || res.ticketID != 99 {
		t.Fatalf("row 2: %+v", res)
	}
	st, _ := pipeline.ReadJournal(r.journal)
	if st.Rows[3].Type != pipeline.EntryVoid {
		t.Fatalf("the row that was not taken must be void (resent next run): %+v", st.Rows[3])
	}
}

// A ticket an earlier run created for another row is never taken by the
// look-up that settles a row in doubt, even when it matches.
func TestSenderNeverTakesAClaimedTicket(t *testing.T) {
	api := newFakeAPI()
	id, _ := api.CreateTicket(context.Background(), createOp(2, "same", "a@x.com").Create)
	api.calls["create"] = 0
	j, err := pipeline.CreateJournal(filepath.Join(t.TempDir(), "journal.jsonl"), pipeline.JournalHeader{Op: "test", RunID: "run1"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var got []result
	s := startSender(context.Background(), api, senderOptions{journal: j, concurrency: 1, runID: "run1", onResult: func(r result) { got = append(got, r) }}, []int64{id})
	op := createOp(3, "same", "a@x.com")
	s.send(op, pipeline.JournalEntry{Type: pipeline.EntryIntent, Row: 3, At: time.Now().Add(-time.Minute)})
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].foundBy != "" || got[0].ticketID == id || api.calls["create"] != 1 || len(api.tickets) != 2 {
		t.Fatalf("row 3 must be created anew, not given ticket %d: %+v, %d creates", id, got, api.calls["create"])
	}
}

// sendAll sends ops as fresh rows, closes the sender and fails on an error.
func (r *sinkRun) sendAll(t *testing.T, ops ...mapping.Operation) {
	t.Helper()
	for _, op := range ops {
		if err := r.sink.send(op, pipeline.JournalEntry{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.sink.close(); err != nil {
		t.Fatal(err)
	}
}

// failCreates makes the n-th create fail with an unknown outcome, applied or
// not as plan says; creates past the plan succeed.
func failCreates(plan ...string) func(string, int) (error, bool) {
	return func(method string, n int) (error, bool) {
		if n > len(plan) {
			return nil, true
		}
		switch plan[n-1] {
		case "lost": // reset before Udesk processed it
			return errUnknown, false
		case "made": // reset after
			return errUnknown, true
		}
		return nil, true
	}
}

// Rows identical in every field: either may take either ticket, but never
// two rows one ticket, and no resend makes a third.
func TestSenderSettlesIdenticalRows(t *testing.T) {
	for _, plan := range [][]string{
		{"lost", "made"}, {"made", "lost"}, {"lost", "lost", "made"}, {"made", "made"},
		{"lost", "lost", "lost", "made", "made"}, {"made", "lost", "made"},
	} {
		api := newFakeAPI()
		api.fail = failCreates(plan...)
		r := startSink(t, api, senderOptions{concurrency: 1})
		r.sendAll(t, createOp(2, "Password reset", "pat@x.com"), createOp(3, "Password reset", "pat@x.com"))
		a, b := r.results[2], r.results[3]
		if len(api.tickets) != 2 || a.action != ActionCreated || b.action != ActionCreated || a.ticketID == b.ticketID {
			t.Fatalf("plan %v: %d tickets, row 2 %+v, row 3 %+v", plan, len(api.tickets), a, b)
		}
	}
}

// Rows that differ only in what a ticket does not show (the assignee by
// email is read back by name) cannot be told apart: the ticket one of them
// made is taken by neither, and neither is resent.
func TestSenderLookAlikesThatCannotBeToldApartAreUnknown(t *testing.T) {
	api := newFakeAPI()
	api.fail = failCreates("lost", "made")
	r := startSink(t, api, senderOptions{concurrency: 1})
	a, b := createOp(2, "Password reset", "pat@x.com"), createOp(3, "Password reset", "pat@x.com")
	a.Create.Assignee = &udesk.Assignee{Email: "ann@x.com"}
	b.Create.Assignee = &udesk.Assignee{Email: "bob@x.com"}
	r.sendAll(t, a, b)
	if len(api.tickets) != 1 || api.calls["create"] != 2 {
		t.Fatalf("nothing may be resent: %d tickets, %d creates", len(api.tickets), api.calls["create"])
	}
	for row := 2; row <= 3; row++ {
		if res := r.results[row]; res.code != CodeOutcomeUnknown || !strings.Contains(res.message, "--marker-field") {
			t.Fatalf("row %d must be unknown and suggest --marker-field: %+v", row, res)
		}
	}
}

// A look-alike whose fields differ from the row's is not the row's ticket,
// nor proof that the row was not written: it may have been changed since.
func TestSenderLookAlikeWithOtherFieldsIsUnknown(t *testing.T) {
	api := newFakeAPI()
	api.fail = failCreates("made")
	r := startSink(t, api, senderOptions{concurrency: 1})
	op := createOp(2, "Password reset", "pat@x.com")
	op.Create.Priority = "低"
	api.beforePage = func(int) { api.tickets[0].Priority = "紧急" } // an agent raised it
	r.sendAll(t, op)
	if res := r.results[2]; res.code != CodeOutcomeUnknown || len(api.tickets) != 1 {
		t.Fatalf("row 2 must be unknown and not resent: %+v, %d tickets", res, len(api.tickets))
	}
}

// A ticket deleted between two pages of the customer's listing moves the
// created one onto a page already read; the look-up reads the listing
// again instead of creating the row a second time.
func TestSenderListingThatChangesIsReadAgain(t *testing.T) {
	api := newFakeAPI()
	for i := range 100 {
		api.CreateTicket(context.Background(), createOp(0, fmt.Sprint("older ", i), "pat@x.com").Create)
	}
	api.calls["create"] = 0
	api.fail = failCreates("made")
	api.beforePage = func(n int) {
		if n == 2 {
			api.tickets = api.tickets[1:]
		}
	}
	r := startSink(t, api, senderOptions{concurrency: 1})
	r.sendAll(t, createOp(2, "Password reset", "pat@x.com"))
	if res := r.results[2]; res.action != ActionCreated || res.ticketID != 101 || api.calls["create"] != 1 {
		t.Fatalf("row 2 must be found as ticket 101, not created again: %+v, %d creates", res, api.calls["create"])
	}
	// A listing that never holds, and is not by id (the newest ticket comes
	// to the top, as by last update), proves nothing: unknown, not resent.
	api2 := newFakeAPI()
	for i := range 150 {
		api2.CreateTicket(context.Background(), createOp(0, fmt.Sprint("older ", i), "pat@x.com").Create)
	}
	api2.calls["create"] = 0
	api2.fail = failCreates("lost")
	api2.beforePage = func(int) {
		last := api2.tickets[len(api2.tickets)-1]
		api2.tickets = append([]udesk.Ticket{last}, api2.tickets[:len(api2.tickets)-1]...)
	}
	r2 := startSink(t, api2, senderOptions{concurrency: 1})
	r2.sendAll(t, createOp(2, "Password reset", "pat@x.com"))
	if res := r2.results[2]; res.code != CodeOutcomeUnknown || api2.calls["create"] != 1 {
		t.Fatalf("row 2 must be unknown: %+v, %d creates", res, api2.calls["create"])
	}
}
