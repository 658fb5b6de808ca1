package udesktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func parseAPITime(t *testing.T, v string) time.Time {
	t.Helper()
	at, err := time.Parse(timeLayout, v)
	if err != nil {
		t.Fatalf("time %q: %v", v, err)
	}
	return at
}

func TestUpdatesMoveUpdatedAt(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 3, Seed: 2})
	id := s.CreateTicket(Ticket{Subject: "刚建的工单"})
	prev := parseAPITime(t, mustTicket(t, s, id).UpdatedAt)
	// Three updates within one second: each must still move updated_at.
	for i := range 3 {
		if !s.UpdateTicket(id, func(tk *Ticket) { tk.Subject = fmt.Sprint("改 ", i) }) {
			t.Fatal("UpdateTicket failed")
		}
		got := parseAPITime(t, mustTicket(t, s, id).UpdatedAt)
		if !got.After(prev) {
			t.Fatalf("update %d: updated_at %v, not after %v", i, got, prev)
		}
		prev = got
	}
	wantOK(t, call(t, s, "PUT", fmt.Sprint("/api/v1/tickets/", id), nil, map[string]any{"ticket": map[string]string{"status": "closed"}}))
	if got := parseAPITime(t, mustTicket(t, s, id).UpdatedAt); !got.After(prev) {
		t.Errorf("API update: updated_at %v, not after %v", got, prev)
	}
	// A generated ticket's old updated_at moves to now.
	before := parseAPITime(t, mustTicket(t, s, 1).UpdatedAt)
	s.UpdateTicket(1, func(tk *Ticket) { tk.CustomFields["TextField_1"] = "新值" })
	tk := mustTicket(t, s, 1)
	if got := parseAPITime(t, tk.UpdatedAt); !got.After(before) || time.Since(got) > time.Minute || tk.CustomFields["TextField_1"] != "新值" {
		t.Errorf("ticket 1 after update: updated_at %v (was %v), TextField_1 %q", got, before, tk.CustomFields["TextField_1"])
	}
}

func mustTicket(t *testing.T, s *Server, id int64) Ticket {
	t.Helper()
	tk, ok := s.Ticket(id)
	if !ok {
		t.Fatalf("ticket %d does not live", id)
	}
	return tk
}

func TestCreateTicketHook(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 5, Seed: 1})
	id := s.CreateTicket(Ticket{Subject: "新客户来信", UserEmail: "test@sample.com", CustomFields: map[string]string{"SelectField_1": "2"}})
	if id != 6 {
		t.Fatalf("id %d, want 6", id)
	}
	r := call(t, s, "GET", "/api/v1/tickets/6", nil, nil)
	wantOK(t, r)
	c := r.Body["contents"].(map[string]any)
	cf := c["custom_fields"].(map[string]any)
	if c["subject"] != "新客户来信" || c["status"] != "open" || c["user"] != "测试客户" || c["content"] == "" ||
		cf["SelectField_1"] != "2" || cf["TextField_1"] != nil || c["created_at"] != c["updated_at"] {
		t.Errorf("created ticket %s", r.Raw)
	}
	// The customer's ticket listing finds it.
	p := decodePage(t, call(t, s, "POST", "/api/v1/tickets/get", pageQuery("", "100"), map[string]string{"email": "test@sample.com"}).Raw)
	if !slices.ContainsFunc(p.Contents, func(tk Ticket) bool { return tk.ID == 6 }) {
		t.Errorf("tickets/get of test@sample.com misses ticket 6: %d tickets", len(p.Contents))
	}
	// All blank: a generated ticket, open, with the next id.
	if id := s.CreateTicket(Ticket{}); id != 7 || mustTicket(t, s, 7).Subject == "" || mustTicket(t, s, 7).Status != "open" {
		t.Errorf("blank create: id %d, %+v", id, mustTicket(t, s, 7))
	}
}

type servedField struct {
	Name    string              `json:"field_name"`
	Label   string              `json:"field_label"`
	Type    string              `json:"content_type"`
	Options []map[string]string `json:"options"`
}

func servedFields(t *testing.T, s *Server) map[string]servedField {
	t.Helper()
	var reply struct {
		Fields []servedField `json:"ticket_fields"`
	}
	r := call(t, s, "GET", "/api/v2/ticket_fields.json", nil, nil)
	wantOK(t, r)
	// The chained field's options do not decode as [{index: label}]: skip it.
	raw := strings.Replace(string(r.Raw), `"options": [{"0":{"北京"`, `"chained": [{"0":{"北京"`, 1)
	if err := jsonUnmarshal(raw, &reply); err != nil {
		t.Fatalf("%v\n%s", err, r.Raw)
	}
	out := map[string]servedField{}
	for _, f := range reply.Fields {
		out[f.Name] = f
	}
	return out
}

func TestCatalogChanges(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 30, Seed: 3})
	// A listing before the change fills the encode cache.
	decodePage(t, call(t, s, "GET", "/api/v1/tickets", pageQuery("1", "30"), nil).Raw)

	if !s.RelabelField("TextField_1", "客户备注") || !s.RelabelOption("SelectField_1", 1, "改名的选项") {
		t.Fatal("relabel failed")
	}
	if s.RelabelField("NoSuch", "x") || s.RelabelOption("SelectField_1", 3, "x") || s.RelabelOption("TextField_1", 0, "x") {
		t.Error("relabel of a missing field or option reported success")
	}
	name, err := s.AddField(Field{Label: "渠道", ContentType: "droplist", Options: []string{"线上", "线下"}})
	if err != nil || name != "SelectField_5" {
		t.Fatalf("AddField: %q %v", name, err)
	}
	if _, err := s.AddField(Field{Label: "x", ContentType: "chained_droplist"}); err == nil {
		t.Error("AddField of a chained field succeeded")
	}
	if !s.RemoveField("TextField_2") || s.RemoveField("TextField_2") {
		t.Error("RemoveField")
	}

	fields := servedFields(t, s)
	if fields["TextField_1"].Label != "客户备注" || fields["SelectField_1"].Options[1]["1"] != "改名的选项" ||
		!reflect.DeepEqual(fields["SelectField_5"].Options, []map[string]string{{"0": "线上"}, {"1": "线下"}}) {
		t.Errorf("served catalog %+v", fields)
	}
	if _, ok := fields["TextField_2"]; ok || len(fields) != 12 {
		t.Errorf("removed field still served, or %d fields", len(fields))
	}
	if got := len(s.Fields()); got != 12 {
		t.Errorf("Fields() has %d, want 12", got)
	}

	// Tickets follow the catalog at once, cached ones included.
	r := call(t, s, "GET", "/api/v1/tickets", pageQuery("1", "30"), nil)
	for _, tk := range r.Body["contents"].([]any) {
		cf := tk.(map[string]any)["custom_fields"].(map[string]any)
		if _, ok := cf["TextField_2"]; ok {
			t.Fatal("a listed ticket still has the removed field")
		}
		if v, ok := cf["SelectField_5"]; !ok || v != nil {
			t.Fatalf("a listed ticket has SelectField_5 = %v (present %v), want null", v, ok)
		}
	}
	// Updates take the new labels and refuse the removed field.
	wantOK(t, call(t, s, "PUT", "/api/v1/tickets/4", nil, map[string]any{"ticket": map[string]any{
		"custom_fields": map[string]string{"SelectField_1": "改名的选项", "SelectField_5": "线下"}}}))
	if cf := mustTicket(t, s, 4).CustomFields; cf["SelectField_1"] != "1" || cf["SelectField_5"] != "1" {
		t.Errorf("after update: %v", cf)
	}
	wantError(t, call(t, s, "PUT", "/api/v1/tickets/4", nil, map[string]any{"ticket": map[string]any{
		"custom_fields": map[string]string{"TextField_2": "x"}}}), 1001, "验证失败: 未知的自定义字段 TextField_2")
	wantError(t, call(t, s, "PUT", "/api/v1/tickets/4", nil, map[string]any{"ticket": map[string]any{
		"custom_fields": map[string]string{"SelectField_1": "下拉选项2"}}}), 1001,
		`验证失败: 下拉列表字段 没有名为 "下拉选项2" 的选项 (更新工单时选择类型字段应使用选项名称)`)
}

func TestMutate(t *testing.T) {
	run := func() (*Server, Mutated, []Ticket) {
		s := newTestServer(t, Options{Tickets: 50, Seed: 5})
		before := s.Tickets()
		return s, s.Mutate(Mutation{Seed: 9, Update: 6, Delete: 4, Create: 3}), before
	}
	s, m, before := run()
	_, again, _ := run()
	if !reflect.DeepEqual(m, again) {
		t.Errorf("same seed, different batches: %+v and %+v", m, again)
	}
	if len(m.Updated) != 6 || len(m.Deleted) != 4 || !reflect.DeepEqual(m.Created, []int64{51, 52, 53}) {
		t.Fatalf("mutated %+v", m)
	}
	old := map[int64]Ticket{}
	for _, tk := range before {
		old[tk.ID] = tk
	}
	for _, id := range m.Updated {
		tk := mustTicket(t, s, id)
		if tk.Status == old[id].Status || !parseAPITime(t, tk.UpdatedAt).After(parseAPITime(t, old[id].UpdatedAt)) {
			t.Errorf("ticket %d: status %s -> %s, updated_at %s -> %s", id, old[id].Status, tk.Status, old[id].UpdatedAt, tk.UpdatedAt)
		}
		if slices.Contains(m.Deleted, id) {
			t.Errorf("ticket %d both updated and deleted", id)
		}
	}
	for _, id := range m.Deleted {
		if _, ok := s.Ticket(id); ok {
			t.Errorf("deleted ticket %d lives", id)
		}
	}
	if n := len(s.Tickets()); n != 49 {
		t.Errorf("%d tickets, want 50-4+3", n)
	}
	// More than there is: as many as live.
	if m := s.Mutate(Mutation{Update: 40, Delete: 40}); len(m.Updated) != 40 || len(m.Deleted) != 9 || len(s.Tickets()) != 40 {
		t.Errorf("oversized batch: %d updated, %d deleted, %d left", len(m.Updated), len(m.Deleted), len(s.Tickets()))
	}
}

func TestAdminAPI(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 20, Seed: 6, Faults: Faults{Rules: []FaultRule{{Kind: Fault500, Rate: 1}}}})
	// Unsigned or wrongly signed: refused.
	r := callRaw(t, s, "POST", s.URL()+"/_sim/mutate?sign=00", `{"delete":5}`)
	if r.HTTP != 403 || r.status() != 2002 || len(s.Tickets()) != 20 {
		t.Fatalf("badly signed admin request: HTTP %d %s, %d tickets", r.HTTP, r.Raw, len(s.Tickets()))
	}

	// Admin requests skip the faults that hit every API request.
	r = call(t, s, "POST", "/_sim/tickets", nil, `{"subject":"管理接口建的","status":"solving","custom_fields":{"SelectField_2":"1"}}`)
	wantOK(t, r)
	id := r.num("ticket_id")
	tk := mustTicket(t, s, id)
	if id != 21 || tk.Subject != "管理接口建的" || tk.Status != "solving" || tk.SolvingAt == "" || tk.CustomFields["SelectField_2"] != "1" {
		t.Errorf("created %d: %+v", id, tk)
	}
	r = call(t, s, "POST", "/_sim/tickets", nil, `{}`)
	if tk := mustTicket(t, s, r.num("ticket_id")); tk.Status != "open" || tk.Priority != s.gen.ticket(tk.ID).Priority || tk.Subject == "" {
		t.Errorf("blank admin create: %+v", tk)
	}
	wantAdminError(t, call(t, s, "POST", "/_sim/tickets", nil, `{"status":"打开"}`), `status "打开" is not one of open, solving, resolved, closed`)

	before := mustTicket(t, s, 3)
	r = call(t, s, "PATCH", "/_sim/tickets/3", nil, `{"priority":"紧急","custom_fields":{"TextField_1":"改过","TextField_3":null}}`)
	wantOK(t, r)
	c := r.Body["contents"].(map[string]any)
	cf := c["custom_fields"].(map[string]any)
	if c["priority"] != "紧急" || cf["TextField_1"] != "改过" || cf["TextField_3"] != nil || c["subject"] != before.Subject ||
		!parseAPITime(t, c["updated_at"].(string)).After(parseAPITime(t, before.UpdatedAt)) {
		t.Errorf("patched ticket %s", r.Raw)
	}
	wantAdminError(t, call(t, s, "PATCH", "/_sim/tickets/3", nil, `{"custom_fields":{"SelectField_1":"下拉选项1"}}`),
		`验证失败: 下拉列表字段 没有索引为 "下拉选项1" 的选项 (创建工单时选择类型字段应使用选项索引)`)
	if r := call(t, s, "PATCH", "/_sim/tickets/999", nil, `{}`); r.HTTP != 404 || r.status() != 1003 {
		t.Errorf("patch of a missing ticket: HTTP %d %s", r.HTTP, r.Raw)
	}

	wantOK(t, call(t, s, "DELETE", "/_sim/tickets/3", nil, nil))
	if _, ok := s.Ticket(3); ok {
		t.Error("ticket 3 lives after DELETE")
	}
	if r := call(t, s, "DELETE", "/_sim/tickets/3", nil, nil); r.HTTP != 404 {
		t.Errorf("second DELETE: HTTP %d", r.HTTP)
	}

	r = call(t, s, "POST", "/_sim/fields", nil, `{"field_label":"回访日期","content_type":"date"}`)
	wantOK(t, r)
	if r.str("field_name") != "TextField_9" {
		t.Errorf("added field %s", r.Raw)
	}
	wantAdminError(t, call(t, s, "POST", "/_sim/fields", nil, `{"field_label":"x","content_type":"radio"}`), "a radio field needs options")
	wantOK(t, call(t, s, "PATCH", "/_sim/fields/SelectField_3", nil, `{"field_label":"标签","options":{"0":"甲","3":"丁"}}`))
	wantAdminError(t, call(t, s, "PATCH", "/_sim/fields/SelectField_3", nil, `{"field_label":"不该生效","options":{"4":"戊"}}`),
		`field SelectField_3 has no option "4"`)
	wantOK(t, call(t, s, "DELETE", "/_sim/fields/TextField_8", nil, nil))
	if r := call(t, s, "DELETE", "/_sim/fields/TextField_8", nil, nil); r.HTTP != 404 {
		t.Errorf("second field DELETE: HTTP %d", r.HTTP)
	}
	s.SetFaults(Faults{})
	fields := servedFields(t, s)
	f3 := fields["SelectField_3"]
	if f3.Label != "标签" || f3.Options[0]["0"] != "甲" || f3.Options[1]["1"] != "多选框选项2" || f3.Options[3]["3"] != "丁" ||
		fields["TextField_9"].Type != "date" || fields["TextField_8"].Name != "" {
		t.Errorf("served catalog after admin changes: %+v", fields)
	}

	r = call(t, s, "POST", "/_sim/mutate", nil, `{"seed":3,"update":2,"delete":1,"create":2}`)
	wantOK(t, r)
	var m Mutated
	if err := jsonUnmarshal(string(r.Raw), &m); err != nil || len(m.Updated) != 2 || len(m.Deleted) != 1 || !reflect.DeepEqual(m.Created, []int64{23, 24}) {
		t.Errorf("mutate reply %s (%v)", r.Raw, err)
	}
	if n := s.Requests()["POST /_sim/mutate"]; n != 2 {
		t.Errorf("Requests counts %d mutate requests, want 2", n)
	}
}

func TestListOrder(t *testing.T) {
	ids := func(p page) []int64 {
		var out []int64
		for _, tk := range p.Contents {
			out = append(out, tk.ID)
		}
		return out
	}
	list := func(s *Server, pg string) page {
		return decodePage(t, call(t, s, "GET", "/api/v1/tickets", pageQuery(pg, "5"), nil).Raw)
	}
	if _, err := NewServer(Options{Order: "random"}); err == nil {
		t.Error("Order random accepted")
	}

	// Newest first, a ticket created between pages pushes the rest down by one.
	s := newTestServer(t, Options{Tickets: 20, Seed: 7, Order: OrderNewest, Churn: Churn{Every: 2, Create: 1}})
	p1, p2 := ids(list(s, "1")), ids(list(s, "2"))
	if !reflect.DeepEqual(p1, []int64{20, 19, 18, 17, 16}) || !reflect.DeepEqual(p2, []int64{16, 15, 14, 13, 12}) {
		t.Errorf("newest first with a create between pages: %v then %v", p1, p2)
	}
	if all := s.Tickets(); all[0].ID != 21 || all[len(all)-1].ID != 1 {
		t.Errorf("Tickets() runs %d..%d, want 21..1", all[0].ID, all[len(all)-1].ID)
	}
	// A deletion on an earlier page pulls the rest up: one is skipped.
	s = newTestServer(t, Options{Tickets: 20, Seed: 7, Order: OrderNewest})
	p1 = ids(list(s, "1"))
	s.DeleteTicket(20)
	p2 = ids(list(s, "2"))
	if !reflect.DeepEqual(p1, []int64{20, 19, 18, 17, 16}) || !reflect.DeepEqual(p2, []int64{14, 13, 12, 11, 10}) {
		t.Errorf("newest first with a delete between pages: %v then %v (15 skipped)", p1, p2)
	}

	// Oldest first, creates land past the end: pages do not shift.
	s = newTestServer(t, Options{Tickets: 20, Seed: 7, Churn: Churn{Every: 2, Create: 1}})
	p1, p2 = ids(list(s, "1")), ids(list(s, "2"))
	if !reflect.DeepEqual(p1, []int64{1, 2, 3, 4, 5}) || !reflect.DeepEqual(p2, []int64{6, 7, 8, 9, 10}) {
		t.Errorf("oldest first with a create between pages: %v then %v", p1, p2)
	}

	// Filtered listings follow the order too.
	s = newTestServer(t, Options{Tickets: 200, Seed: 7, Order: OrderNewest})
	fp := decodePage(t, call(t, s, "GET", "/api/v1/ticket_filters/1/tickets", pageQuery("1", "100"), nil).Raw)
	if len(fp.Contents) < 2 || !slices.IsSortedFunc(fp.Contents, func(a, b Ticket) int { return int(b.ID - a.ID) }) {
		t.Errorf("filter listing, newest first: %v", ids(fp))
	}
}

func TestRedirectAndLongRetryFaults(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 2})
	noFollow := s.Client()
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	s.FailNext("list", FaultRedirect, 1)
	u := signedURL(s, "/api/v1/tickets.json", pageQuery("1", "20"))
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	pu, _ := url.Parse(u)
	want := "https://login.example.invalid/?return_to=" + url.QueryEscape(pu.RequestURI())
	if resp.StatusCode != 302 || resp.Header.Get("Location") != want || !strings.Contains(pu.RawQuery, "sign=") ||
		!strings.Contains(body, strings.ReplaceAll(want, "&", "&amp;")) {
		t.Errorf("redirect: HTTP %d Location %q body %q; want Location %q", resp.StatusCode, resp.Header.Get("Location"), body, want)
	}

	s.FailNext("create", Fault429Long, 1)
	resp, err = postCreate(s, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	at, err := http.ParseTime(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || err != nil || time.Until(at) < 23*time.Hour || time.Until(at) > 25*time.Hour {
		t.Errorf("429-long: HTTP %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := len(s.Tickets()); n != 2 {
		t.Errorf("429-long processed the create: %d tickets", n)
	}
	if f, err := ParseFaults("redirect@list=0.1,429-long=0.2"); err != nil || len(f.Rules) != 2 || f.Rules[0].Kind != FaultRedirect || f.Rules[1].Kind != Fault429Long {
		t.Errorf("ParseFaults: %+v %v", f, err)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantAdminError checks a refused admin request: HTTP 400, status 1001.
func wantAdminError(t *testing.T, r result, text string) {
	t.Helper()
	if r.HTTP != 400 || r.status() != 1001 || r.str("error") != text {
		t.Errorf("got HTTP %d status %d error %q; want 400, 1001 with error %q", r.HTTP, r.status(), r.str("error"), text)
	}
}

// The encode cache must serve exactly what encoding afresh does, whatever
// the page size, order, block boundaries, changes and cache budget.
func TestEncodeCacheServesSameBytes(t *testing.T) {
	for _, order := range []string{OrderOldest, OrderNewest} {
		fresh := newTestServer(t, Options{Tickets: 250, Seed: 8, Order: order, CacheBytes: -1})
		cached := newTestServer(t, Options{Tickets: 250, Seed: 8, Order: order})
		tiny := newTestServer(t, Options{Tickets: 250, Seed: 8, Order: order, CacheBytes: 1}) // keeps one block
		servers := []*Server{fresh, cached, tiny}
		same := func(step string) {
			t.Helper()
			for _, pp := range []int{30, 100} {
				for pg := 1; pg <= 251/pp+1; pg++ {
					q := pageQuery(fmt.Sprint(pg), fmt.Sprint(pp))
					want := call(t, fresh, "GET", "/api/v1/tickets", q, nil).Raw
					for i, s := range servers[1:] {
						// Twice: the first read fills the cache, the second reads it.
						for range 2 {
							if got := call(t, s, "GET", "/api/v1/tickets", q, nil).Raw; string(got) != string(want) {
								t.Fatalf("%s, %s first, server %d, page %d of %d: cached reply differs", step, order, i+1, pg, pp)
							}
						}
					}
				}
			}
		}
		// Single gets are encoded alone before their block is kept, from it after.
		getSame := func() {
			t.Helper()
			for id := 1; id <= 250; id += 37 {
				want := call(t, fresh, "GET", fmt.Sprint("/api/v1/tickets/", id), nil, nil).Raw
				if got := call(t, cached, "GET", fmt.Sprint("/api/v1/tickets/", id), nil, nil).Raw; string(got) != string(want) {
					t.Fatalf("ticket %d: cached reply differs", id)
				}
			}
		}
		getSame()
		if cached.enc.bytes.Load() != 0 {
			t.Error("single gets filled the cache")
		}
		same("initial")
		getSame()
		if cached.enc.bytes.Load() == 0 || tiny.enc.bytes.Load() > cached.enc.bytes.Load()/2 {
			t.Errorf("cache holds %d bytes, the one-byte budget %d", cached.enc.bytes.Load(), tiny.enc.bytes.Load())
		}
		// The memory bound counts what blocks keep alive (give or take the
		// allocator's size classes).
		for k := range cached.enc.blocks {
			if blk := cached.enc.blocks[k].Load(); blk == nil {
				t.Errorf("block %d is not kept", k)
			} else if cap(blk.z) > len(blk.z)*9/8 {
				t.Errorf("block %d keeps %d bytes for %d", k, cap(blk.z), len(blk.z))
			}
		}
		for _, s := range servers {
			s.UpdateTicket(150, func(tk *Ticket) { tk.UpdatedAt = "2030-01-01 00:00:00 +0800"; tk.Subject = "改过" })
			s.DeleteTicket(101)
			s.CreateTicket(Ticket{Subject: "新", CreatedAt: "2030-01-01 00:00:00 +0800"})
		}
		same("after ticket changes")
		for _, s := range servers {
			if _, err := s.AddField(Field{Label: "新字段", ContentType: "text"}); err != nil {
				t.Fatal(err)
			}
			s.RemoveField("TextField_4")
		}
		same("after field changes")
	}
}
