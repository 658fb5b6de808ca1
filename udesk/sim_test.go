package udesk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// newSim starts a simulator and a client for it (millisecond backoff).
func newSim(t *testing.T, opts udesktest.Options, mod func(*Config)) (*udesktest.Server, *Client) {
	t.Helper()
	s, err := udesktest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := newTestClient(t, s.URL(), func(c *Config) {
		c.Signer = NewMD5Signer(s.Secret())
		if mod != nil {
			mod(c)
		}
	})
	return s, c
}

// wireTicket reads the simulator's ticket through JSON, as the client would.
func wireTicket(t *testing.T, st udesktest.Ticket) Ticket {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var tk Ticket
	if err := json.Unmarshal(b, &tk); err != nil {
		t.Fatal(err)
	}
	return tk
}

// sameTicket compares a ticket read by the client with the simulator's;
// custom fields the simulator does not hold are served as null ("").
func sameTicket(t *testing.T, got Ticket, want Ticket) {
	t.Helper()
	cf := CustomFields{}
	for k, v := range got.CustomFields {
		if _, ok := want.CustomFields[k]; ok || v != "" {
			cf[k] = v
		}
	}
	got.CustomFields = cf
	if len(got.CustomFields) == 0 && len(want.CustomFields) == 0 {
		got.CustomFields, want.CustomFields = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ticket %d read as\n%+v\nsimulator holds\n%+v", want.ID, got, want)
	}
}

func TestSimReads(t *testing.T) {
	s, c := newSim(t, udesktest.Options{Tickets: 25, Seed: 3}, nil)
	ctx := context.Background()
	all := s.Tickets()

	p, err := c.Page(ctx, Listing{}, 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 25 || p.TotalPages != 3 || p.Size != 10 || len(p.Tickets) != 10 {
		t.Fatalf("page 2 = size %d total %d pages %d, %d tickets", p.Size, p.Total, p.TotalPages, len(p.Tickets))
	}
	for i, tk := range p.Tickets {
		sameTicket(t, tk, wireTicket(t, all[10+i]))
	}
	if again, err := DecodePage(p.Raw); err != nil || !reflect.DeepEqual(again.Tickets, p.Tickets) {
		t.Errorf("DecodePage(Page.Raw) = %v; differs from Page", err)
	}

	tk, err := c.Ticket(ctx, all[3].ID)
	if err != nil {
		t.Fatal(err)
	}
	sameTicket(t, *tk, wireTicket(t, all[3]))

	cp, err := c.Page(ctx, Listing{CustomerEmail: all[0].UserEmail}, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(cp.Tickets) == 0 || cp.Total != len(cp.Tickets) {
		t.Errorf("customer %s: %d tickets, total %d", all[0].UserEmail, len(cp.Tickets), cp.Total)
	}
	for _, tk := range cp.Tickets {
		if tk.UserEmail != all[0].UserEmail {
			t.Errorf("customer listing holds ticket %d of %s", tk.ID, tk.UserEmail)
		}
	}

	fields, err := c.Fields(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadFields(bytes.NewReader(udesktest.FieldsReply()))
	if err != nil || !reflect.DeepEqual(fields, want) || len(fields) < 11 {
		t.Errorf("Fields = %+v (%v), want %+v", fields, err, want)
	}
	if f := fields[10]; f.Name != "SelectField_3" || len(f.Options) != 4 || f.Options[3] != (Option{"3", "多选框选项4"}) {
		t.Errorf("field 11 = %+v", f)
	}

	filters, err := c.Filters(ctx, 0)
	if err != nil || len(filters) != 6 || filters[0].ID != 1 || filters[0].Name != "全部打开的工单" || !filters[0].Active {
		t.Errorf("Filters(0) = %+v, %v", filters, err)
	}
	if mine, err := c.Filters(ctx, 1); err != nil || len(mine) != 5 {
		t.Errorf("Filters(agent 1) = %+v, %v; want the 5 unowned filters", mine, err)
	}
	fp, err := c.Page(ctx, Listing{FilterID: 1, AgentID: 1}, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range fp.Tickets {
		if tk.Status != "open" {
			t.Errorf("filter 1 (open tickets) lists ticket %d with status %s", tk.ID, tk.Status)
		}
	}
	if got := s.Requests(); got[udesktest.EndpointList] != 1 || got[udesktest.EndpointFilterTickets] != 1 ||
		got[udesktest.EndpointCustomerTickets] != 1 || got[udesktest.EndpointTicket] != 1 {
		t.Errorf("simulator counted %v", got)
	}
}

func TestSimWrites(t *testing.T) {
	s, c := newSim(t, udesktest.Options{Tickets: 5, Seed: 1}, nil)
	ctx := context.Background()
	id, err := c.CreateTicket(ctx, &NewTicket{
		Subject: "测试工单1", Content: "工单测试", CustomerToken: "customer_test_1", Email: "customer@sample.com",
		Cellphone: "13123456789", Priority: "标准", Status: "解决中", AgentGroupName: "默认组",
		Assignee:    &Assignee{Email: "agent@sample.com"},
		TicketField: map[string]string{"TextField_1": "普通文本内容", "SelectField_1": "0", "SelectField_3": "0,3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, ok := s.Ticket(id)
	if !ok || st.Subject != "测试工单1" || st.Status != "solving" || st.Priority != "标准" || st.Assignee != "测试客服" ||
		st.CustomFields["SelectField_3"] != "0,3" || st.UserEmail != "customer@sample.com" {
		t.Fatalf("created ticket %d = %+v", id, st)
	}

	err = c.UpdateTicket(ctx, id, &TicketUpdate{Priority: "urgency", Status: "resolved",
		CustomFields: map[string]string{"SelectField_1": "下拉选项2", "SelectField_3": "多选框选项1,多选框选项4"},
		Comment:      &Comment{Function: "internal", AuthorEmail: "agent@sample.com", Body: "备注"}})
	if err != nil {
		t.Fatal(err)
	}
	st, _ = s.Ticket(id)
	if st.Priority != "紧急" || st.Status != "resolved" || st.CustomFields["SelectField_1"] != "1" || st.CustomFields["SelectField_3"] != "0,3" {
		t.Errorf("updated ticket = %+v", st)
	}
	if err := c.Reply(ctx, &Reply{ID: id, ReplyContent: "测试客户回复", Email: "customer@sample.com"}); err != nil {
		t.Fatal(err)
	}
	reps := s.Replies(id)
	if len(reps) != 2 || reps[0].Kind != "internal" || reps[0].Body != "备注" || reps[1].Kind != "customer" || reps[1].Body != "测试客户回复" {
		t.Errorf("replies = %+v", reps)
	}
	read, err := c.Ticket(ctx, id)
	if err != nil || read.Priority != "紧急" || read.CustomFields["SelectField_1"] != "1" {
		t.Errorf("read back = %+v, %v", read, err)
	}
}

func TestSimErrors(t *testing.T) {
	s, c := newSim(t, udesktest.Options{Tickets: 3, Seed: 1}, nil)
	ctx := context.Background()
	existing := s.Tickets()[0].ID
	create := func(nt NewTicket) func() error {
		return func() error {
			if nt.Subject == "" {
				nt.Subject = "s"
			}
			_, err := c.CreateTicket(ctx, &nt)
			return err
		}
	}
	update := func(u TicketUpdate) func() error {
		return func() error { return c.UpdateTicket(ctx, existing, &u) }
	}
	page := func(l Listing, perPage int) func() error {
		return func() error { _, err := c.Page(ctx, l, 1, perPage); return err }
	}
	comment := func(fn, author string) *Comment { return &Comment{Function: fn, AuthorEmail: author, Body: "b"} }
	wrong := newTestClient(t, s.URL(), func(c *Config) { c.Signer = NewMD5Signer("not-the-secret") })
	for _, tc := range []struct {
		name             string
		call             func() error
		method, path     string
		code             int
		message, errText string
	}{
		{"status", create(NewTicket{Content: "c", Status: "bogus"}), "POST", "/api/v1/tickets.json", StatusInvalidParameter, "状态错误", ""},
		{"priority", create(NewTicket{Content: "c", Priority: "bogus"}), "POST", "/api/v1/tickets.json", StatusInvalidParameter, "优先级错误", ""},
		{"agent email", create(NewTicket{Content: "c", Assignee: &Assignee{Email: "no@x.cn"}}), "POST", "/api/v1/tickets.json", StatusInvalidParameter, "客服邮箱错误", ""},
		{"agent info", create(NewTicket{Content: "c", Assignee: &Assignee{Name: "测试客服", Email: "admin@example.com"}}), "POST", "/api/v1/tickets.json", StatusInvalidParameter, "客服信息错误", ""},
		{"agent name", create(NewTicket{Content: "c", Assignee: &Assignee{Name: "无名"}}), "POST", "/api/v1/tickets.json", StatusInvalidParameter, "客服姓名错误", ""},
		{"group", create(NewTicket{Content: "c", AgentGroupName: "无组"}), "POST", "/api/v1/tickets.json", StatusInvalidParameter, "客服组错误", ""},
		{"link", create(NewTicket{Content: "c", TicketField: map[string]string{"TextField_6": "www.x.cn"}}), "POST", "/api/v1/tickets.json", StatusInvalidParameter, "验证失败: 链接字段 不是正确的网址格式, 仅支持http, https 或 ftp 开头的网址", ""},
		{"content missing", create(NewTicket{}), "POST", "/api/v1/tickets.json", StatusInvalidParameter, "参数错误", "ticket[content] is missing"},
		{"agent id", update(TicketUpdate{AgentID: 999}), "PUT", fmt.Sprintf("/api/v1/tickets/%d.json", existing), StatusInvalidParameter, "未找到客服", ""},
		{"filter", page(Listing{FilterID: 99}, 10), "GET", "/api/v1/ticket_filters/99/tickets.json", StatusInvalidParameter, "未找到指定过滤器, 或指定客服无权限使用该过滤器", ""},
		{"filter agent", func() error { _, err := c.Filters(ctx, 999); return err }, "GET", "/api/v1/ticket_filters.json", StatusInvalidParameter, "未找到客服", ""},
		{"per_page", page(Listing{}, 101), "GET", "/api/v1/tickets.json", StatusInvalidParameter, "参数错误", "per_page should be between 1 and 100"},
		{"no customer", page(Listing{CustomerEmail: "nobody@nowhere.cn"}, 10), "POST", "/api/v1/tickets/get.json", StatusCustomerNotFound, "未找到相应客户", ""},
		{"no ticket", func() error { _, err := c.Ticket(ctx, 999999); return err }, "GET", "/api/v1/tickets/999999.json", StatusTicketNotFound, "未找到相应工单", ""},
		{"reply customer", func() error { return c.Reply(ctx, &Reply{ID: existing, ReplyContent: "r", Email: "nobody@nowhere.cn"}) }, "POST", "/api/v1/tickets/reply.json", StatusReplyCustomerNotFound, "未找到相应客户", ""},
		{"reply email missing", func() error { return c.Reply(ctx, &Reply{ID: existing, ReplyContent: "r"}) }, "POST", "/api/v1/tickets/reply.json", StatusInvalidParameter, "参数错误", "email is missing"},
		{"status en", update(TicketUpdate{Status: "打开"}), "PUT", fmt.Sprintf("/api/v1/tickets/%d.json", existing), StatusInvalidStatus, "参数'状态'传递有误", ""},
		{"agent_email", update(TicketUpdate{AgentEmail: "no@x.cn"}), "PUT", fmt.Sprintf("/api/v1/tickets/%d.json", existing), StatusAgentEmailNotFound, "未找到邮箱为no@x.cn的客服", ""},
		{"not in group", update(TicketUpdate{AgentID: 8, AgentGroupID: 1}), "PUT", fmt.Sprintf("/api/v1/tickets/%d.json", existing), StatusAgentNotInGroup, "指定的客服不属于给定的员工组", ""},
		{"comment function", update(TicketUpdate{Comment: comment("bogus", "agent@sample.com")}), "PUT", fmt.Sprintf("/api/v1/tickets/%d.json", existing), StatusInvalidComment, "回复类型非法", ""},
		{"comment author", update(TicketUpdate{Comment: comment("internal", "no@x.cn")}), "PUT", fmt.Sprintf("/api/v1/tickets/%d.json", existing), StatusInvalidComment, "回复人不存在", ""},
		{"exclusive", update(TicketUpdate{AgentEmail: "agent@sample.com", AgentID: 1}), "PUT", fmt.Sprintf("/api/v1/tickets/%d.json", existing), StatusInvalidParameter, "参数错误", "agent_email, agent_id are mutually exclusive"},
		{"wrong secret", func() error { _, err := wrong.Ticket(ctx, existing); return err }, "GET", fmt.Sprintf("/api/v1/tickets/%d.json", existing), StatusBadSignature, "签名错,请升级版本后使用!", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.Log())
			err := tc.call()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want a *Error", err)
			}
			want := Error{HTTPStatus: 200, Code: tc.code, Message: tc.message, ErrorText: tc.errText,
				Method: tc.method, Path: tc.path, Class: Permanent, Attempts: 1}
			got := *e
			got.redact = nil
			if got != want {
				t.Errorf("err = %#v\nwant   %#v", e, &want)
			}
			if n := len(s.Log()) - before; n != 1 {
				t.Errorf("%d requests for a permanent error, want 1", n)
			}
		})
	}
	if n := len(s.Tickets()); n != 3 {
		t.Errorf("%d tickets after failed creates, want 3", n)
	}
}

// TestSimCreateResetAfterProcessing is the case that breaks naive importers:
// the server created the ticket, the client never got the reply.
func TestSimCreateResetAfterProcessing(t *testing.T) {
	for _, tc := range []struct {
		fault      string
		created    int // tickets the fault leaves
		requests   int
		outcomeErr bool
	}{
		{udesktest.FaultResetAfter, 1, 1, true},
		{udesktest.FaultCut, 1, 1, true},
		{udesktest.FaultResetBefore, 0, 1, true}, // the client cannot tell it from reset-after
		{udesktest.Fault503, 0, 1, true},
		{udesktest.FaultHTML, 0, 1, true},
		{udesktest.FaultStall, 0, 1, true},
		{udesktest.Fault429, 1, 2, false}, // refused before processing: resent
		{udesktest.Fault429Bare, 1, 2, false},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			t.Parallel()
			s, c := newSim(t, udesktest.Options{Tickets: 2, Seed: 1}, func(c *Config) { c.Timeout = 200 * time.Millisecond })
			s.FailNext(udesktest.EndpointCreate, tc.fault, 1)
			id, err := c.CreateTicket(context.Background(), &NewTicket{Subject: "key", Content: "once", Email: "test@sample.com"})
			if IsOutcomeUnknown(err) != tc.outcomeErr || (!tc.outcomeErr && err != nil) {
				t.Errorf("create = %d, %v; want outcome unknown %v", id, err, tc.outcomeErr)
			}
			n := 0
			for _, tk := range s.Tickets() {
				if tk.Subject == "key" {
					n++
				}
			}
			if n != tc.created {
				t.Errorf("%d tickets created, want %d", n, tc.created)
			}
			if got := s.Requests()[udesktest.EndpointCreate]; got != tc.requests {
				t.Errorf("simulator saw %d creates, want %d", got, tc.requests)
			}
		})
	}
}

func TestSimRetriesIdempotent(t *testing.T) {
	for _, fault := range []string{udesktest.Fault500, udesktest.Fault502, udesktest.Fault503, udesktest.Fault429,
		udesktest.Fault429Bare, udesktest.FaultHTML, udesktest.FaultHTML502, udesktest.FaultResetBefore,
		udesktest.FaultResetAfter, udesktest.FaultCut, udesktest.FaultStall} {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			s, c := newSim(t, udesktest.Options{Tickets: 3, Seed: 1}, func(c *Config) { c.Timeout = 200 * time.Millisecond })
			s.FailNext("list", fault, 1)
			start := time.Now()
			p, err := c.Page(context.Background(), Listing{}, 1, 10)
			if err != nil || len(p.Tickets) != 3 {
				t.Fatalf("Page after a %s = %v", fault, err)
			}
			if got := s.Requests()[udesktest.EndpointList]; got != 2 || c.Stats().Retries != 1 {
				t.Errorf("simulator saw %d lists, stats %+v; want 2, 1 retry", got, c.Stats())
			}
			if fault == udesktest.Fault429 && time.Since(start) < time.Second {
				t.Errorf("Retry-After: 1 not waited out (%v)", time.Since(start))
			}
		})
	}
	// Updates without a comment are idempotent too.
	s, c := newSim(t, udesktest.Options{Tickets: 1, Seed: 1}, nil)
	id := s.Tickets()[0].ID
	s.FailNext("update", udesktest.FaultResetAfter, 1)
	if err := c.UpdateTicket(context.Background(), id, &TicketUpdate{Subject: "new"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Ticket(id); st.Subject != "new" || s.Requests()[udesktest.EndpointUpdate] != 2 {
		t.Errorf("update: subject %q after %d requests", st.Subject, s.Requests()[udesktest.EndpointUpdate])
	}
}

func TestSimSlowBodyWithinTimeout(t *testing.T) {
	s, c := newSim(t, udesktest.Options{Tickets: 2, SlowBody: 30 * time.Millisecond}, nil)
	s.FailNext("list", udesktest.FaultSlow, 1)
	if p, err := c.Page(context.Background(), Listing{}, 1, 10); err != nil || len(p.Tickets) != 2 || c.Stats().Requests != 1 {
		t.Errorf("slow page = %v, stats %+v", err, c.Stats())
	}
}

// TestSimBudget: 8 callers share one 20/s budget; the simulator's arrival
// log never holds more than 20 + burst requests in any one-second window.
func TestSimBudget(t *testing.T) {
	const calls, perSec = 30, 20
	r, err := ParseRate(fmt.Sprintf("%d/s", perSec))
	if err != nil {
		t.Fatal(err)
	}
	s, c := newSim(t, udesktest.Options{Tickets: 5, LogLimit: -1}, func(c *Config) { c.Rate, c.Concurrency = r, 8 })
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < calls; i += 8 {
				if _, err := c.Ticket(context.Background(), s.Tickets()[i%5].ID); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if min := time.Duration(calls-r.Burst) * time.Second / perSec; elapsed < min {
		t.Errorf("%d calls took %v, the budget implies at least %v", calls, elapsed, min)
	}
	log := s.Log()
	if len(log) != calls {
		t.Fatalf("simulator logged %d requests, want %d", len(log), calls)
	}
	for i := range log {
		n := 0
		for j := i; j < len(log) && log[j].Time.Sub(log[i].Time) < time.Second; j++ {
			n++
		}
		if n > perSec+r.Burst {
			t.Errorf("%d requests arrived within 1s of %v, budget %d + burst %d", n, log[i].Time, perSec, r.Burst)
			break
		}
	}
}

// TestSimServerBudgetThrottles: a client faster than the server's budget gets
// 429s, waits them out and still succeeds.
func TestSimServerBudgetThrottles(t *testing.T) {
	t.Parallel()
	s, c := newSim(t, udesktest.Options{Tickets: 1, Rate: 50, Burst: 1}, func(c *Config) { c.Concurrency = 2 })
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := c.Filters(context.Background(), 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	if st.Throttled == 0 || st.Retries < st.Throttled || st.Requests != int64(s.Requests()[udesktest.EndpointFilters]) {
		t.Errorf("stats %+v, simulator %v; want throttled calls retried", st, s.Requests())
	}
}

// TestSecretNeverShown: with a canary secret, neither it nor any sign value
// appears in the errors or debug lines of failing calls of every kind.
func TestSecretNeverShown(t *testing.T) {
	t.Parallel()
	const canary = "CANARY-5ecret-d00d"
	var mu sync.Mutex
	var lines, signs []string
	record := &recordingSigner{inner: NewMD5Signer(canary), record: func(s string) {
		mu.Lock()
		signs = append(signs, s)
		mu.Unlock()
	}}
	debug := func(f string, a ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(f, a...))
		mu.Unlock()
	}
	s, c := newSim(t, udesktest.Options{Secret: canary, Tickets: 2, Seed: 1}, func(c *Config) {
		c.Signer, c.Debug, c.MaxAttempts, c.Timeout = record, debug, 1, 200*time.Millisecond
	})
	ctx := context.Background()
	var errs []error
	for _, fault := range []string{udesktest.Fault500, udesktest.Fault502, udesktest.Fault503, udesktest.Fault429,
		udesktest.FaultHTML, udesktest.FaultHTML502, udesktest.FaultResetBefore, udesktest.FaultResetAfter,
		udesktest.FaultCut, udesktest.FaultStall} {
		s.FailNext("list", fault, 1)
		// Go's transport itself resends a GET reset on a reused connection:
		// then the list succeeds and has nothing to show.
		if _, err := c.Page(ctx, Listing{}, 1, 10); err != nil {
			errs = append(errs, err)
		}
		s.FailNext("create", fault, 1)
		_, err := c.CreateTicket(ctx, &NewTicket{Subject: "s", Content: "c"})
		errs = append(errs, err)
	}
	_, err := c.Ticket(ctx, 999999)
	errs = append(errs, err)
	_, err = c.Page(ctx, Listing{}, 1, 1000)
	errs = append(errs, err)
	// Signed with the canary against a server expecting another secret: 2002.
	other, oc := newSim(t, udesktest.Options{Tickets: 1}, func(c *Config) { c.Signer, c.Debug = record, debug })
	_, err = oc.Fields(ctx)
	errs = append(errs, err)
	_ = other
	// A server that echoes the signed query into its messages.
	fs := newFaultServer(t, okPage, "500", "2002", "html")
	fs.echo = true
	ec := newTestClient(t, fs.URL, func(c *Config) { c.Signer, c.Debug, c.MaxAttempts = record, debug, 1 })
	for range 3 {
		_, err = ec.Page(ctx, Listing{}, 1, 10)
		errs = append(errs, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Page(cancelled, Listing{}, 1, 10)
	errs = append(errs, err)

	var shown []string
	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d did not fail", i)
			continue
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			shown = append(shown, fmt.Sprintf(verb, err))
		}
	}
	shown = append(shown, lines...)
	if len(signs) < 20 || len(lines) < 20 {
		t.Fatalf("only %d signs, %d debug lines recorded", len(signs), len(lines))
	}
	for _, out := range shown {
		if strings.Contains(out, canary) {
			t.Errorf("secret shown: %s", out)
		}
		for _, sg := range signs {
			if strings.Contains(out, sg) {
				t.Errorf("sign %s shown: %s", sg, out)
			}
		}
	}
	if !strings.Contains(strings.Join(lines, "\n"), "sign=REDACTED") {
		t.Error("debug lines do not show the redacted sign")
	}
}

type recordingSigner struct {
	inner  Signer
	record func(string)
}

func (r *recordingSigner) Sign(q string) string {
	s := r.inner.Sign(q)
	r.record(s)
	return s
}

// A wrong secret is an auth error whose message says what to check; a
// business error is not.
func TestSimWrongSecretIsAuthError(t *testing.T) {
	_, wrong := newSim(t, udesktest.Options{Tickets: 1, Seed: 1}, func(c *Config) { c.Signer = NewMD5Signer("wrong") })
	ctx := context.Background()
	_, err := wrong.Fields(ctx)
	if !IsAuthError(err) || !strings.Contains(err.Error(), "check UDESK_SECRET") || !strings.Contains(err.Error(), "签名错") {
		t.Errorf("wrong secret: IsAuthError = %v, err = %v", IsAuthError(err), err)
	}
	_, c := newSim(t, udesktest.Options{Tickets: 1, Seed: 1}, nil)
	_, err = c.Ticket(ctx, 999999)
	if err == nil || IsAuthError(err) || !strings.Contains(err.Error(), "no ticket of this tenant has that id") {
		t.Errorf("missing ticket: IsAuthError = %v, err = %v", IsAuthError(err), err)
	}
}

// WithBeforeSend's callback runs before each attempt leaves, once the
// attempt holds its turn; when it fails, nothing is sent and the call is
// not retried.
func TestSimBeforeSend(t *testing.T) {
	s, c := newSim(t, udesktest.Options{Tickets: 1, Seed: 1}, nil)
	s.FailNext("list", udesktest.Fault503, 1)
	var calls int
	ctx := WithBeforeSend(context.Background(), func() error {
		calls++
		return nil
	})
	if _, err := c.Page(ctx, Listing{}, 1, 10); err != nil || calls != 2 || s.Requests()[udesktest.EndpointList] != 2 {
		t.Fatalf("Page = %v; callback ran %d times for %d requests, want 2 and 2", err, calls, s.Requests()[udesktest.EndpointList])
	}
	refuse := errors.New("journal full")
	ctx = WithBeforeSend(context.Background(), func() error { return refuse })
	_, err := c.CreateTicket(ctx, &NewTicket{Subject: "s", Content: "c", Email: "a@example.com"})
	var ue *Error
	if !errors.Is(err, refuse) || !errors.As(err, &ue) || ue.Class != Permanent || s.Requests()[udesktest.EndpointCreate] != 0 {
		t.Fatalf("CreateTicket = %v, %d creates sent; want the callback's error, nothing sent", err, s.Requests()[udesktest.EndpointCreate])
	}
}
