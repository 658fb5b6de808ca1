package udesktest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// sameWire compares what the wire carries: a null custom field decodes to "".
func sameWire(a, b Ticket) bool {
	norm := func(t Ticket) Ticket {
		t.customer, t.Tags, t.Followers = 0, "", nil
		cf := map[string]string{}
		for _, f := range catalog {
			cf[f.name] = t.CustomFields[f.name]
		}
		t.CustomFields = cf
		return t
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestSignature(t *testing.T) {
	// The published vector: page=1&per_page=10 with this secret signs to b48d....
	s := newTestServer(t, Options{Secret: "99d80d18b0b9a994a8d0283e830e5099", Tickets: 3})
	ok := callRaw(t, s, "GET", s.URL()+"/api/v1/tickets.json?page=1&per_page=10&sign=b48d4134e7d13839b09b5423e300c352", nil)
	wantOK(t, ok)

	// Accepted as sent (unsorted) as well as sorted.
	sum := md5.Sum([]byte("per_page=10&page=1&" + s.Secret()))
	wantOK(t, callRaw(t, s, "GET", s.URL()+"/api/v1/tickets?per_page=10&page=1&sign="+hex.EncodeToString(sum[:]), nil))
	// No parameter but sign: md5(secret).
	wantOK(t, call(t, s, "GET", "/api/v2/ticket_fields", nil, nil))

	for name, u := range map[string]string{
		"wrong":     "/api/v1/tickets.json?page=1&per_page=10&sign=00000000000000000000000000000000",
		"missing":   "/api/v1/tickets.json?page=1&per_page=10",
		"uppercase": "/api/v1/tickets.json?page=1&per_page=10&sign=B48D4134E7D13839B09B5423E300C352",
		"tampered":  "/api/v1/tickets.json?page=2&per_page=10&sign=b48d4134e7d13839b09b5423e300c352",
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, callRaw(t, s, "GET", s.URL()+u, nil), 2002, "签名错,请升级版本后使用!")
		})
	}
	for _, rec := range s.Log() {
		if strings.Contains(rec.Query, "b48d") || strings.Contains(rec.Query, s.Secret()) || strings.Contains(rec.Body, s.Secret()) {
			t.Errorf("log record leaks the sign or secret: %+v", rec)
		}
		if rec.Query != "" && !strings.Contains(rec.Query, "sign=REDACTED") && strings.Contains(rec.Query, "sign") {
			t.Errorf("log query not redacted: %q", rec.Query)
		}
	}
}

func TestListPaging(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 45, Seed: 1})
	all := s.Tickets()
	r := call(t, s, "GET", "/api/v1/tickets.json", nil, nil)
	p := decodePage(t, r.Raw)
	if p.Size != 20 || p.Total != 45 || p.TotalPages != 3 || len(p.Contents) != 20 || r.str("message") != "成功" {
		t.Fatalf("default page: size %d total %d pages %d", p.Size, p.Total, p.TotalPages)
	}
	var got []Ticket
	for pg := 1; pg <= 5; pg++ {
		// Without ".json" too: both paths are the same endpoint.
		path := "/api/v1/tickets"
		if pg%2 == 0 {
			path += ".json"
		}
		p := decodePage(t, call(t, s, "GET", path, pageQuery(fmt.Sprint(pg), "10"), nil).Raw)
		if p.Total != 45 || p.TotalPages != 5 || p.Size != len(p.Contents) {
			t.Fatalf("page %d: %+v", pg, p)
		}
		got = append(got, p.Contents...)
	}
	if len(got) != len(all) {
		t.Fatalf("paged %d tickets, want %d", len(got), len(all))
	}
	for i := range got {
		if !sameWire(got[i], all[i]) {
			t.Fatalf("ticket %d differs:\nwire %+v\nheld %+v", i, got[i], all[i])
		}
	}
	if p := decodePage(t, call(t, s, "GET", "/api/v1/tickets", pageQuery("9", "10"), nil).Raw); p.Size != 0 || len(p.Contents) != 0 || p.Total != 45 {
		t.Errorf("page past the end: %+v", p)
	}
	if p := decodePage(t, call(t, s, "GET", "/api/v1/tickets", pageQuery("1", "100"), nil).Raw); p.Size != 45 {
		t.Errorf("per_page 100: size %d", p.Size)
	}
	for _, bad := range []string{"0", "101", "abc", "-1"} {
		wantParamError(t, call(t, s, "GET", "/api/v1/tickets", pageQuery("1", bad), nil), "per_page should be between 1 and 100")
	}
	wantParamError(t, call(t, s, "GET", "/api/v1/tickets", pageQuery("0", "10"), nil), "page is invalid")
	if n := s.Requests()[EndpointList]; n != 13 {
		t.Errorf("Requests()[%q] = %d, want 13", EndpointList, n)
	}
}

func TestWireForm(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 400, Seed: 3})
	var nullEmail, nullField, emptyField, crlf, formula, html, nullAssignee bool
	for pg := 1; pg <= 4; pg++ {
		raw := call(t, s, "GET", "/api/v1/tickets", pageQuery(fmt.Sprint(pg), "100"), nil).Raw
		var p struct {
			Contents []map[string]json.RawMessage `json:"contents"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		for _, tk := range p.Contents {
			var st, pr, created string
			json.Unmarshal(tk["status"], &st)
			json.Unmarshal(tk["priority"], &pr)
			json.Unmarshal(tk["created_at"], &created)
			if indexOf(statusEN, st) < 0 || indexOf(priorityZH, pr) < 0 {
				t.Fatalf("status %q priority %q: want English status, Chinese priority", st, pr)
			}
			if len(created) != len("2016-07-28 20:44:08 +0800") || !strings.HasSuffix(created, " +0800") {
				t.Fatalf("created_at %q", created)
			}
			nullEmail = nullEmail || string(tk["user_email"]) == "null"
			nullAssignee = nullAssignee || string(tk["assignee_id"]) == "null"
			var cf map[string]*string
			json.Unmarshal(tk["custom_fields"], &cf)
			if len(cf) != len(catalog) {
				t.Fatalf("custom_fields has %d keys, want every catalog field", len(cf))
			}
			for k, v := range cf {
				switch {
				case v == nil:
					nullField = true
				case *v == "":
					emptyField = true
				case strings.Contains(*v, "\r\n"):
					crlf = true
				case k == "SelectField_3" && strings.Trim(*v, "0123,") != "":
					t.Fatalf("checkbox value %q is not an index list", *v)
				}
			}
			var subj, content, ct string
			json.Unmarshal(tk["subject"], &subj)
			json.Unmarshal(tk["content"], &content)
			json.Unmarshal(tk["content_type"], &ct)
			formula = formula || strings.HasPrefix(subj, "=") || strings.HasPrefix(content, "-")
			html = html || ct == "html"
		}
	}
	if !nullEmail || !nullField || !emptyField || !crlf || !formula || !html || !nullAssignee {
		t.Errorf("data set lacks variety: null email %v, null field %v, empty field %v, CRLF %v, formula-like %v, html %v, null assignee %v",
			nullEmail, nullField, emptyField, crlf, formula, html, nullAssignee)
	}
}

func TestDeterministicDataSet(t *testing.T) {
	a := newTestServer(t, Options{Tickets: 50, Seed: 42})
	b := newTestServer(t, Options{Tickets: 50, Seed: 42})
	c := newTestServer(t, Options{Tickets: 50, Seed: 43})
	if !reflect.DeepEqual(a.Tickets(), b.Tickets()) {
		t.Error("same seed, different tickets")
	}
	if reflect.DeepEqual(a.Tickets(), c.Tickets()) {
		t.Error("different seeds, same tickets")
	}
	if !reflect.DeepEqual(a.Customers(), b.Customers()) {
		t.Error("same seed, different customers")
	}
	// Ticket i does not depend on the data set's size.
	big := newTestServer(t, Options{Tickets: 5000, Seed: 42})
	t7, _ := big.Ticket(7)
	a7, _ := a.Ticket(7)
	if !reflect.DeepEqual(t7, a7) {
		t.Error("ticket 7 depends on the data set size")
	}
}

func TestGetTicket(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 5, Seed: 2})
	r := call(t, s, "GET", "/api/v1/tickets/3.json", nil, nil)
	wantOK(t, r)
	var got struct{ Contents Ticket }
	json.Unmarshal(r.Raw, &got)
	want, _ := s.Ticket(3)
	if !sameWire(got.Contents, want) {
		t.Errorf("ticket 3:\nwire %+v\nheld %+v", got.Contents, want)
	}
	// The cached encoding of an initial ticket gives way to a change.
	s.UpdateTicket(3, func(tk *Ticket) { tk.Subject = "changed behind the back"; tk.CustomFields["TextField_1"] = "x" })
	json.Unmarshal(call(t, s, "GET", "/api/v1/tickets/3", nil, nil).Raw, &got)
	if got.Contents.Subject != "changed behind the back" || got.Contents.CustomFields["TextField_1"] != "x" {
		t.Errorf("after UpdateTicket: %+v", got.Contents)
	}
	wantError(t, call(t, s, "GET", "/api/v1/tickets/6.json", nil, nil), 1003, "未找到相应工单")
	wantError(t, call(t, s, "GET", "/api/v1/tickets/abc", nil, nil), 1003, "未找到相应工单")
	if s.Requests()[EndpointTicket] != 4 {
		t.Errorf("Requests: %v", s.Requests())
	}
}

// specCreate is the spec's own create example.
const specCreate = `{"ticket":{"subject":"测试工单1","content":"工单测试","customer_token":"customer_test_1",
"email":"customer@sample.com","cellphone":"13123456789","priority":"标准","status":"解决中","agent_group_name":"默认组",
"assignee":{"email":"agent@sample.com"},
"ticket_field":{"TextField_1":"普通文本内容","TextField_2":"多行文本内容1\r\n多行文本内容2","TextField_3":"2016-08-11",
"TextField_4":"14:44:36","TextField_5":"2017-05-03 14:44","TextField_6":"https://www.sample.com","TextField_7":"13",
"TextField_8":"13.33","SelectField_1":"0","SelectField_2":"0","SelectField_3":"0,3"}}}`

func TestCreate(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 10, Seed: 5})
	r := call(t, s, "POST", "/api/v1/tickets.json", nil, specCreate)
	wantOK(t, r)
	if r.str("message") != "工单创建成功" || r.num("ticket_id") != 11 {
		t.Fatalf("create reply %s", r.Raw)
	}
	tk, ok := s.Ticket(11)
	if !ok {
		t.Fatal("created ticket 11 not found")
	}
	if tk.Status != "solving" || tk.Priority != "标准" || tk.Assignee != "测试客服" || tk.UserGroupName != "默认组" ||
		tk.UserEmail != "customer@sample.com" || tk.UserCellphone != "13123456789" || tk.SolvingAt == "" ||
		tk.CustomFields["SelectField_3"] != "0,3" || tk.CustomFields["TextField_2"] != "多行文本内容1\r\n多行文本内容2" {
		t.Errorf("created ticket %+v", tk)
	}
	// Read back over HTTP in wire form.
	var got struct{ Contents Ticket }
	json.Unmarshal(call(t, s, "GET", "/api/v1/tickets/11", nil, nil).Raw, &got)
	if !sameWire(got.Contents, tk) {
		t.Errorf("read back %+v", got.Contents)
	}

	body := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"subject": "s", "content": "c", "email": "test@sample.com"}
		mod(m)
		return map[string]any{"ticket": m}
	}
	cases := []struct {
		name      string
		mod       func(m map[string]any)
		code      int
		msg, text string
	}{
		{"no content", func(m map[string]any) { delete(m, "content") }, 1001, "", "ticket[content] is missing"},
		{"no subject", func(m map[string]any) { m["subject"] = "" }, 1001, "", "ticket[subject] is missing"},
		{"english status", func(m map[string]any) { m["status"] = "open" }, 1001, "状态错误", ""},
		{"english priority", func(m map[string]any) { m["priority"] = "high" }, 1001, "优先级错误", ""},
		{"unknown agent email", func(m map[string]any) { m["assignee"] = map[string]string{"email": "nobody@example.com"} }, 1001, "客服邮箱错误", ""},
		{"unknown agent name", func(m map[string]any) { m["assignee"] = map[string]string{"name": "无名"} }, 1001, "客服姓名错误", ""},
		{"name and email disagree", func(m map[string]any) {
			m["assignee"] = map[string]string{"name": "张伟", "email": "li.na@example.com"}
		}, 1001, "客服信息错误", ""},
		{"unknown group", func(m map[string]any) { m["agent_group_name"] = "不存在的组" }, 1001, "客服组错误", ""},
		{"bad link", func(m map[string]any) { m["ticket_field"] = map[string]string{"TextField_6": "www.sample.com"} }, 1001,
			"验证失败: 链接字段 不是正确的网址格式, 仅支持http, https 或 ftp 开头的网址", ""},
		{"option index out of range", func(m map[string]any) { m["ticket_field"] = map[string]string{"SelectField_1": "3"} }, 1001,
			`验证失败: 下拉列表字段 没有索引为 "3" 的选项 (创建工单时选择类型字段应使用选项索引)`, ""},
		{"label instead of index", func(m map[string]any) { m["ticket_field"] = map[string]string{"SelectField_3": "多选框选项1"} }, 1001,
			`验证失败: 多选框字段 没有索引为 "多选框选项1" 的选项 (创建工单时选择类型字段应使用选项索引)`, ""},
		{"unknown field", func(m map[string]any) { m["ticket_field"] = map[string]string{"TextField_99": "x"} }, 1001,
			"验证失败: 未知的自定义字段 TextField_99", ""},
		{"bad date", func(m map[string]any) { m["ticket_field"] = map[string]string{"TextField_3": "2016/08/11"} }, 1001,
			"验证失败: 日期字段 不是正确的日期格式, 应为 yyyy-mm-dd", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, s, "POST", "/api/v1/tickets", nil, body(c.mod))
			if c.text != "" {
				wantParamError(t, r, c.text)
			} else {
				wantError(t, r, c.code, c.msg)
			}
		})
	}
	wantParamError(t, call(t, s, "POST", "/api/v1/tickets", nil, map[string]any{"ticket": map[string]any{}}),
		"ticket[subject] is missing, ticket[content] is missing")
	if n := len(s.Tickets()); n != 11 {
		t.Errorf("failed creates changed the data: %d tickets, want 11", n)
	}
	// Assignee by name alone, group defaulting to the agent's first group.
	r = call(t, s, "POST", "/api/v1/tickets", nil, body(func(m map[string]any) { m["assignee"] = map[string]string{"name": "王芳"} }))
	wantOK(t, r)
	if tk, _ := s.Ticket(r.num("ticket_id")); tk.AssigneeID != 5 || tk.UserGroupName != "售后2组" || tk.Status != "open" || tk.Priority != "标准" {
		t.Errorf("assignee by name: %+v", tk)
	}
}

func TestCreateCustomerLookup(t *testing.T) {
	s := newTestServer(t, Options{Seed: 9})
	create := func(tok, email, phone string) Ticket {
		t.Helper()
		m := map[string]any{"subject": "s", "content": "c"}
		if tok != "" {
			m["customer_token"] = tok
		}
		if email != "" {
			m["email"] = email
		}
		if phone != "" {
			m["cellphone"] = phone
		}
		r := call(t, s, "POST", "/api/v1/tickets", nil, map[string]any{"ticket": m})
		wantOK(t, r)
		tk, _ := s.Ticket(r.num("ticket_id"))
		return tk
	}
	nCust := len(s.Customers())
	// Token wins over a different email.
	if tk := create("vip-0001", "test@sample.com", ""); tk.User != "王小明" {
		t.Errorf("token lookup: user %q", tk.User)
	}
	// Email found: the cellphone is set on that customer.
	if tk := create("", "jane.doe@example.org", "13511112222"); tk.User != "Jane Doe" || tk.UserCellphone != "13511112222" {
		t.Errorf("email lookup: %+v", tk)
	}
	// Cellphone found: the email is set on that customer.
	if tk := create("", "zhao.liu@example.com", "13900000003"); tk.User != "赵六" || tk.UserEmail != "zhao.liu@example.com" {
		t.Errorf("cellphone lookup: %+v", tk)
	}
	// Now reachable by that email.
	if tk := create("", "zhao.liu@example.com", ""); tk.User != "赵六" {
		t.Errorf("email set by a create is not found: %+v", tk)
	}
	if n := len(s.Customers()); n != nCust {
		t.Errorf("lookups created customers: %d -> %d", nCust, n)
	}
	// Nothing matches: a new customer.
	tk := create("new-token", "new@example.com", "13700000000")
	if n := len(s.Customers()); n != nCust+1 || tk.UserEmail != "new@example.com" {
		t.Errorf("new customer: %d customers, ticket %+v", n, tk)
	}
	if tk := create("new-token", "", ""); tk.UserEmail != "new@example.com" {
		t.Errorf("new customer's token not indexed: %+v", tk)
	}
}

func TestUpdate(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 10, Seed: 6})
	upd := func(id string, ticket map[string]any) result {
		return call(t, s, "PUT", "/api/v1/tickets/"+id+".json", nil, map[string]any{"ticket": ticket})
	}
	before, _ := s.Ticket(4)
	wantOK(t, upd("4", map[string]any{
		"status": "resolved", "priority": "urgency", "agent_email": "li.na@example.com", "agent_group_name": "售后2组",
		"tags": "vip,回访", "follower_emails": "alice@example.com, bob.lee@example.com",
		"custom_fields": map[string]any{"SelectField_1": "下拉选项3", "SelectField_3": "多选框选项4,多选框选项1", "TextField_7": 13, "TextField_1": nil},
		"comment":       map[string]string{"function": "internal", "author_email": "zhang.wei@example.com", "body": "已处理\r\n第二行"},
	}))
	tk, _ := s.Ticket(4)
	if tk.Status != "resolved" || tk.Priority != "紧急" || tk.AssigneeID != 4 || tk.UserGroupID != 2 || tk.Tags != "vip,回访" ||
		!reflect.DeepEqual(tk.Followers, []int64{8, 9}) || tk.CustomFields["SelectField_1"] != "2" || tk.CustomFields["SelectField_3"] != "0,3" ||
		tk.CustomFields["TextField_7"] != "13" || tk.RepliedBy != "agent_3" || tk.Subject != before.Subject {
		t.Errorf("updated ticket %+v", tk)
	}
	if _, ok := tk.CustomFields["TextField_1"]; ok {
		t.Error("null did not clear TextField_1")
	}
	if rs := s.Replies(4); len(rs) != 1 || rs[0].Kind != "internal" || rs[0].Author != "zhang.wei@example.com" || rs[0].Body != "已处理\r\n第二行" {
		t.Errorf("replies %+v", rs)
	}
	wantOK(t, upd("4", map[string]any{"agent_id": 3, "comment": map[string]string{"function": "external", "author_email": "agent@sample.com", "body": "b"}}))
	if tk, _ := s.Ticket(4); tk.AssigneeID != 3 || tk.UserGroupID != 1 || len(s.Replies(4)) != 2 {
		t.Errorf("agent_id update: %+v", tk)
	}

	cases := []struct {
		name      string
		id        string
		ticket    map[string]any
		code      int
		msg, text string
	}{
		{"unknown ticket", "99", map[string]any{"status": "open"}, 1003, "未找到相应工单", ""},
		{"chinese status", "4", map[string]any{"status": "打开"}, 1006, "参数'状态'传递有误", ""},
		{"chinese priority", "4", map[string]any{"priority": "紧急"}, 1001, "优先级错误", ""},
		{"unknown agent email", "4", map[string]any{"agent_email": "x@y.z"}, 1008, "未找到邮箱为x@y.z的客服", ""},
		{"unknown agent id", "4", map[string]any{"agent_id": 999}, 1001, "未找到客服", ""},
		{"both agent keys", "4", map[string]any{"agent_email": "alice@example.com", "agent_id": 8}, 0, "", "agent_email, agent_id are mutually exclusive"},
		{"both group keys", "4", map[string]any{"agent_group_name": "售前组", "agent_group_id": 3}, 0, "", "agent_group_name, agent_group_id are mutually exclusive"},
		{"both follower keys", "4", map[string]any{"follower_emails": "alice@example.com", "follower_ids": "8"}, 0, "", "follower_emails, follower_ids are mutually exclusive"},
		{"unknown group", "4", map[string]any{"agent_group_id": 77}, 1001, "客服组错误", ""},
		{"agent not in group", "4", map[string]any{"agent_id": 8, "agent_group_name": "售后1组"}, 1010, "指定的客服不属于给定的员工组", ""},
		{"unknown follower id", "4", map[string]any{"follower_ids": "8,404"}, 1001, "未找到客服", ""},
		{"bad function", "4", map[string]any{"comment": map[string]string{"function": "public", "author_email": "alice@example.com", "body": "b"}}, 1013, "回复类型非法", ""},
		{"customer as author", "4", map[string]any{"comment": map[string]string{"function": "external", "author_email": "test@sample.com", "body": "b"}}, 1013, "回复人不存在", ""},
		{"comment without body", "4", map[string]any{"comment": map[string]string{"function": "external", "author_email": "alice@example.com"}}, 0, "", "ticket[comment][body] is missing"},
		{"index instead of label", "4", map[string]any{"custom_fields": map[string]string{"SelectField_1": "0"}}, 1001,
			`验证失败: 下拉列表字段 没有名为 "0" 的选项 (更新工单时选择类型字段应使用选项名称)`, ""},
		{"unknown label", "4", map[string]any{"custom_fields": map[string]string{"SelectField_3": "多选框选项1,多选框选项9"}}, 1001,
			`验证失败: 多选框字段 没有名为 "多选框选项9" 的选项 (更新工单时选择类型字段应使用选项名称)`, ""},
		{"two options in a droplist", "4", map[string]any{"custom_fields": map[string]string{"SelectField_2": "单选框选项1,单选框选项2"}}, 1001,
			"验证失败: 单选框字段 只能选择一个选项", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := upd(c.id, c.ticket)
			if c.text != "" {
				wantParamError(t, r, c.text)
			} else {
				wantError(t, r, c.code, c.msg)
			}
		})
	}
	// A failed update changes nothing, not even the fields that were valid.
	before, _ = s.Ticket(4)
	wantError(t, upd("4", map[string]any{"status": "closed", "agent_email": "x@y.z"}), 1008, "未找到邮箱为x@y.z的客服")
	if after, _ := s.Ticket(4); !reflect.DeepEqual(before, after) || len(s.Replies(4)) != 2 {
		t.Errorf("failed update changed the ticket")
	}
	wantParamError(t, call(t, s, "PUT", "/api/v1/tickets/4", nil, map[string]any{}), "ticket is missing")
}

func TestCustomerReply(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 3, Seed: 7})
	r := call(t, s, "POST", "/api/v1/tickets/reply.json", nil, map[string]any{"id": 2, "reply_content": "测试客户回复", "email": "jane.doe@example.org"})
	wantOK(t, r)
	if rs := s.Replies(2); len(rs) != 1 || rs[0].Kind != "customer" || rs[0].Body != "测试客户回复" || rs[0].Author != "jane.doe@example.org" {
		t.Errorf("replies %+v", rs)
	}
	if tk, _ := s.Ticket(2); tk.RepliedBy != "customer_3" {
		t.Errorf("replied_by %q", tk.RepliedBy)
	}
	wantParamError(t, call(t, s, "POST", "/api/v1/tickets/reply", nil, map[string]any{"id": 2, "reply_content": "x"}), "email is missing")
	wantError(t, call(t, s, "POST", "/api/v1/tickets/reply", nil, map[string]any{"id": 9, "reply_content": "x", "email": "test@sample.com"}), 1003, "未找到相应工单")
	wantError(t, call(t, s, "POST", "/api/v1/tickets/reply", nil, map[string]any{"id": "2", "reply_content": "x", "email": "ghost@example.com"}), 1004, "未找到相应客户")
	if len(s.Replies(2)) != 1 {
		t.Error("failed replies were stored")
	}
}

func TestCustomerTickets(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 3000, Seed: 8})
	const email = "test@sample.com"
	var want []Ticket
	for _, tk := range s.Tickets() {
		if tk.customer == 0 {
			want = append(want, tk)
		}
	}
	if len(want) < 2 {
		t.Fatalf("customer 0 has %d tickets; pick another seed", len(want))
	}
	var got []Ticket
	for pg := 1; ; pg++ {
		p := decodePage(t, call(t, s, "POST", "/api/v1/tickets/get.json", pageQuery(fmt.Sprint(pg), "1"), map[string]string{"email": "TEST@sample.com"}).Raw)
		if p.Total != len(want) {
			t.Fatalf("total %d, want %d", p.Total, len(want))
		}
		if p.Size == 0 {
			break
		}
		got = append(got, p.Contents...)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tickets, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || got[i].UserEmail != email {
			t.Errorf("ticket %d: id %d email %q", i, got[i].ID, got[i].UserEmail)
		}
	}
	wantParamError(t, call(t, s, "POST", "/api/v1/tickets/get", nil, map[string]string{}), "email is missing")
	wantError(t, call(t, s, "POST", "/api/v1/tickets/get", nil, map[string]string{"email": "ghost@example.com"}), 1002, "未找到相应客户")
	wantParamError(t, call(t, s, "POST", "/api/v1/tickets/get", pageQuery("", "500"), map[string]string{"email": email}), "per_page should be between 1 and 100")
}

var update = flag.Bool("update", false, "rewrite samples/fields.json from the served catalog")

func TestFieldsCatalog(t *testing.T) {
	s := newTestServer(t, Options{})
	r := call(t, s, "GET", "/api/v2/ticket_fields.json", nil, nil)
	wantOK(t, r)
	sample := filepath.Join("..", "..", "samples", "fields.json")
	if *update {
		os.MkdirAll(filepath.Dir(sample), 0o755)
		if err := os.WriteFile(sample, r.Raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(sample)
	if err != nil {
		t.Fatalf("%v (run go test -run TestFieldsCatalog -update)", err)
	}
	if string(file) != string(r.Raw) {
		t.Errorf("%s differs from the served catalog (run go test -run TestFieldsCatalog -update)", sample)
	}
	var reply struct {
		Message string `json:"message"`
		Fields  []struct {
			Name        string          `json:"field_name"`
			Label       string          `json:"field_label"`
			ContentType string          `json:"content_type"`
			Comment     *string         `json:"comment"`
			Options     json.RawMessage `json:"options"`
			Permission  int             `json:"permission"`
			Required    bool            `json:"requirment"`
		} `json:"ticket_fields"`
	}
	if err := json.Unmarshal(r.Raw, &reply); err != nil {
		t.Fatal(err)
	}
	if reply.Message != "success" || len(reply.Fields) != 12 {
		t.Fatalf("message %q, %d fields", reply.Message, len(reply.Fields))
	}
	f3 := reply.Fields[10]
	var opts []map[string]string
	if err := json.Unmarshal(f3.Options, &opts); err != nil || f3.Name != "SelectField_3" || f3.ContentType != "checkbox" ||
		!reflect.DeepEqual(opts[3], map[string]string{"3": "多选框选项4"}) || f3.Required || f3.Permission != 2 || f3.Comment != nil {
		t.Errorf("SelectField_3 = %+v (%v)", f3, err)
	}
	last := reply.Fields[11]
	if last.Name != "SelectField_4" || last.ContentType != "chained_droplist" || json.Unmarshal(last.Options, &opts) == nil {
		t.Errorf("last field %s %s: want the chained field with options that do not decode as [{index: label}]", last.Name, last.ContentType)
	}
}

func TestFilters(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 600, Seed: 10})
	names := func(r result) []string {
		var out []string
		for _, c := range r.Body["contents"].([]any) {
			out = append(out, c.(map[string]any)["name"].(string))
		}
		return out
	}
	r := call(t, s, "GET", "/api/v1/ticket_filters.json", nil, nil)
	wantOK(t, r)
	if r.num("count") != 6 || len(names(r)) != 6 {
		t.Fatalf("filters %s", r.Raw)
	}
	first := r.Body["contents"].([]any)[0].(map[string]any)
	if first["tickets_url"] != s.URL()+"/api/v1/ticket_filters/1/tickets" || first["active"] != true {
		t.Errorf("filter 1 %v", first)
	}
	if n := names(call(t, s, "GET", "/api/v1/ticket_filters", url.Values{"agent_id": {"4"}}, nil)); len(n) != 5 || strings.Contains(strings.Join(n, ","), "张伟") {
		t.Errorf("agent 4 sees %v", n)
	}
	if n := names(call(t, s, "GET", "/api/v1/ticket_filters", url.Values{"agent_id": {"3"}}, nil)); len(n) != 6 {
		t.Errorf("agent 3 sees %v", n)
	}
	wantError(t, call(t, s, "GET", "/api/v1/ticket_filters", url.Values{"agent_id": {"404"}}, nil), 1001, "未找到客服")

	all := s.Tickets()
	check := func(id string, agent string, pred func(Ticket) bool) {
		t.Helper()
		var want []int64
		for _, tk := range all {
			if pred(tk) {
				want = append(want, tk.ID)
			}
		}
		q := pageQuery("1", "100")
		if agent != "" {
			q.Set("agent_id", agent)
		}
		var got []int64
		for pg := 1; ; pg++ {
			q.Set("page", fmt.Sprint(pg))
			p := decodePage(t, call(t, s, "GET", "/api/v1/ticket_filters/"+id+"/tickets.json", q, nil).Raw)
			if p.Total != len(want) {
				t.Fatalf("filter %s: total %d, want %d", id, p.Total, len(want))
			}
			if p.Size == 0 {
				break
			}
			for _, tk := range p.Contents {
				got = append(got, tk.ID)
			}
		}
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("filter %s: got %d tickets, want %d", id, len(got), len(want))
		}
	}
	check("1", "", func(tk Ticket) bool { return tk.Status == "open" })
	check("2", "", func(tk Ticket) bool { return tk.Priority == "紧急" })
	check("3", "5", func(tk Ticket) bool { return tk.AssigneeID == 5 && (tk.Status == "open" || tk.Status == "solving") })
	check("4", "3", func(tk Ticket) bool { return tk.AssigneeID == 3 && tk.Status == "resolved" })
	// The recently updated tickets: the week before the generated data's
	// clock stops, a fixed point.
	since := time.Date(2019, 1, 1, 8, 0, 0, 0, cst).Add(600*150*time.Second + 23*24*time.Hour)
	recent := func(tk Ticket) bool { return !parseAPITime(t, tk.UpdatedAt).Before(since) }
	check("6", "", recent)
	var older int64
	for _, tk := range all {
		if !recent(tk) {
			older = tk.ID
			break
		}
	}
	if older == 0 || len(all) < 2*len(slices.DeleteFunc(slices.Clone(all), func(tk Ticket) bool { return !recent(tk) })) {
		t.Fatalf("filter 6 holds most tickets (the oldest not in it: %d): not a view of recent updates", older)
	}
	total := func() int {
		return decodePage(t, call(t, s, "GET", "/api/v1/ticket_filters/6/tickets", nil, nil).Raw).Total
	}
	before6 := total()
	s.UpdateTicket(older, func(tk *Ticket) { tk.Subject += "!" })
	if after := total(); after != before6+1 {
		t.Errorf("ticket %d was updated: filter 6 holds %d tickets, want %d", older, after, before6+1)
	}

	// Changing a ticket updates the cached listing.
	var openID int64
	for _, tk := range all {
		if tk.Status == "open" {
			openID = tk.ID
			break
		}
	}
	before := decodePage(t, call(t, s, "GET", "/api/v1/ticket_filters/1/tickets", nil, nil).Raw).Total
	s.UpdateTicket(openID, func(tk *Ticket) { tk.Status = "closed" })
	if after := decodePage(t, call(t, s, "GET", "/api/v1/ticket_filters/1/tickets", nil, nil).Raw).Total; after != before-1 {
		t.Errorf("after closing a ticket behind the client's back: total %d, want %d", after, before-1)
	}

	wantError(t, call(t, s, "GET", "/api/v1/ticket_filters/99/tickets", nil, nil), 1001, "未找到指定过滤器, 或指定客服无权限使用该过滤器")
	wantError(t, call(t, s, "GET", "/api/v1/ticket_filters/4/tickets", url.Values{"agent_id": {"5"}}, nil), 1001, "未找到指定过滤器, 或指定客服无权限使用该过滤器")
	wantParamError(t, call(t, s, "GET", "/api/v1/ticket_filters/1/tickets", pageQuery("1", "0"), nil), "per_page should be between 1 and 100")
}

func TestConcurrentUse(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 300, Seed: 11, Churn: Churn{Every: 3, Create: 2, Delete: 2}})
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for pg := 1; pg <= 6; pg++ {
				var resp *http.Response
				var err error
				switch w {
				case 0:
					resp, err = s.Client().Get(signedURL(s, "/api/v1/tickets", pageQuery(fmt.Sprint(pg), "50")))
				case 1:
					resp, err = s.Client().Get(signedURL(s, "/api/v1/ticket_filters/1/tickets", pageQuery(fmt.Sprint(pg), "50")))
				case 2:
					resp, err = postCreate(s, s.Client())
				case 3:
					s.UpdateTicket(int64(pg), func(tk *Ticket) { tk.Status = "closed" })
					continue
				}
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				var p page
				if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || p.Status != 0 {
					t.Errorf("worker %d: status %d, %v", w, p.Status, err)
				}
				resp.Body.Close()
			}
		}()
	}
	for range 4 {
		<-done
	}
	if n := s.Requests()[EndpointCreate]; n != 6 {
		t.Errorf("creates counted %d, want 6", n)
	}
}

func TestUnknownRoute(t *testing.T) {
	s := newTestServer(t, Options{})
	r := call(t, s, "DELETE", "/api/v1/tickets/1", nil, nil)
	if r.HTTP != 404 {
		t.Errorf("DELETE: HTTP %d", r.HTTP)
	}
	if s.Requests()["DELETE /api/v1/tickets/1"] != 1 {
		t.Errorf("Requests %v", s.Requests())
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "多行文本内容1\r\n多行文本内容2", "tab\tquote\"back\\slash", "\x00\x1f\x7f",
		"line\u2028sep\u2029", "bad \xff\xfe utf8", "emoji 😀 <b>&</b>", "=SUM(A1)", "\xe2\x80"} {
		var want string
		b, _ := json.Marshal(s)
		json.Unmarshal(b, &want)
		var got string
		if err := json.Unmarshal(appendString(nil, s), &got); err != nil || got != want {
			t.Errorf("appendString(%q) = %s (%v), decodes to %q, want %q", s, appendString(nil, s), err, got, want)
		}
	}
	if got := formatTime(1469709848); got != "2016-07-28 20:44:08 +0800" {
		t.Errorf("formatTime = %q", got)
	}
}
