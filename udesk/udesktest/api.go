package udesktest

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Business codes and messages (spec: status错误码说明).
const (
	msgOK            = "成功"
	codeInvalid      = 1001
	msgParam         = "参数错误"
	msgStatus        = "状态错误"
	msgPriority      = "优先级错误"
	msgAgentEmail    = "客服邮箱错误"
	msgAgentInfo     = "客服信息错误"
	msgAgentName     = "客服姓名错误"
	msgGroup         = "客服组错误"
	msgAgentNotFound = "未找到客服"
	msgFilter        = "未找到指定过滤器, 或指定客服无权限使用该过滤器"
	codeNoCustomer   = 1002
	codeNoTicket     = 1003
	codeNoCustomer2  = 1004
	codeStatusEN     = 1006
	codeAgentEmail   = 1008
	codeNotInGroup   = 1010
	codeComment      = 1013
	codeSign         = 2002
	msgSign          = "签名错,请升级版本后使用!"
)

// route maps a request to its endpoint key and the id in its path, if any.
// Paths are accepted with or without ".json".
func route(method, path string) (ep, id string) {
	p := strings.TrimSuffix(strings.TrimSuffix(path, "/"), ".json")
	seg := strings.Split(strings.TrimPrefix(p, "/"), "/")
	switch {
	case p == "/api/v1/tickets" && method == http.MethodGet:
		return EndpointList, ""
	case p == "/api/v1/tickets" && method == http.MethodPost:
		return EndpointCreate, ""
	case p == "/api/v1/tickets/get" && method == http.MethodPost:
		return EndpointCustomerTickets, ""
	case p == "/api/v1/tickets/reply" && method == http.MethodPost:
		return EndpointReply, ""
	case len(seg) == 4 && seg[0] == "api" && seg[1] == "v1" && seg[2] == "tickets" && method == http.MethodGet:
		return EndpointTicket, seg[3]
	case len(seg) == 4 && seg[0] == "api" && seg[1] == "v1" && seg[2] == "tickets" && method == http.MethodPut:
		return EndpointUpdate, seg[3]
	case p == "/api/v2/ticket_fields" && method == http.MethodGet:
		return EndpointFields, ""
	case p == "/api/v1/ticket_filters" && method == http.MethodGet:
		return EndpointFilters, ""
	case len(seg) == 5 && seg[0] == "api" && seg[1] == "v1" && seg[2] == "ticket_filters" && seg[4] == "tickets" && method == http.MethodGet:
		return EndpointFilterTickets, seg[3]
	}
	return method + " " + path, ""
}

// signOK checks sign = md5(query-without-sign + "&" + secret), or md5(secret)
// when sign is the only parameter. The query may be hashed as sent or with
// its parameters sorted by key.
func (s *Server) signOK(rawQuery string) bool {
	var sign string
	var rest []string
	for p := range strings.SplitSeq(rawQuery, "&") {
		switch {
		case p == "":
		case strings.HasPrefix(p, "sign="):
			sign = p[len("sign="):]
		default:
			rest = append(rest, p)
		}
	}
	if sign == "" {
		return false
	}
	if s.signMatches(sign, strings.Join(rest, "&")) {
		return true
	}
	sorted := slices.Clone(rest)
	sort.SliceStable(sorted, func(i, j int) bool {
		ki, _, _ := strings.Cut(sorted[i], "=")
		kj, _, _ := strings.Cut(sorted[j], "=")
		return ki < kj
	})
	return s.signMatches(sign, strings.Join(sorted, "&"))
}

func (s *Server) signMatches(sign, query string) bool {
	data := s.secret
	if query != "" {
		data = query + "&" + s.secret
	}
	sum := md5.Sum([]byte(data))
	want := hex.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(sign), []byte(want)) == 1
}

// process answers a request that got past the budget and faults.
func (s *Server) process(r *http.Request, id string, body []byte) (int, []byte) {
	ep, _ := route(r.Method, r.URL.Path)
	if !isEndpoint(ep) {
		return http.StatusNotFound, newReply(404, "Not Found").bytes()
	}
	if !s.signOK(r.URL.RawQuery) {
		return 200, newReply(codeSign, msgSign).bytes()
	}
	q := r.URL.Query()
	switch ep {
	case EndpointList:
		return 200, s.listAll(q)
	case EndpointCustomerTickets:
		return 200, s.customerTickets(q, body)
	case EndpointTicket:
		return 200, s.getTicket(id)
	case EndpointCreate:
		return 200, s.create(body)
	case EndpointUpdate:
		return 200, s.update(id, body)
	case EndpointReply:
		return 200, s.reply(body)
	case EndpointFields:
		s.mu.RLock()
		defer s.mu.RUnlock()
		return 200, s.fieldsJSON
	case EndpointFilters:
		return 200, s.listFilters(r, q)
	case EndpointFilterTickets:
		return 200, s.filterTickets(id, q)
	}
	return http.StatusNotFound, newReply(404, "Not Found").bytes()
}

func isEndpoint(ep string) bool {
	for _, full := range endpointNames {
		if full == ep {
			return true
		}
	}
	return false
}

func fail(code int, msg string) []byte { return newReply(code, msg).bytes() }

// paramError is a parameter validation failure: the spec lists these by
// their error text only; they answer status 1001 with that text in "error".
func paramError(text string) []byte {
	return newReply(codeInvalid, msgParam).str("error", text).bytes()
}

const perPageError = "per_page should be between 1 and 100"

func pageParams(q url.Values) (page, perPage int, errText string) {
	page, perPage = 1, 20
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, perPageError
		}
		perPage = n
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, "page is invalid"
		}
		page = n
	}
	return page, perPage, ""
}

func (s *Server) listAll(q url.Values) []byte {
	page, perPage, e := pageParams(q)
	if e != "" {
		return paramError(e)
	}
	s.churn()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.encodePage(s.order, page, perPage)
}

// listed serves a page of a filtered listing, building (and caching until
// the next change) its ids with one pass over the data; match is called
// with s.mu held.
func (s *Server) listed(key string, match func(id int64) bool, page, perPage int) []byte {
	for {
		s.mu.RLock()
		if l := s.lists[key]; l != nil && l.version == s.version {
			out := s.encodePage(l.ids, page, perPage)
			s.mu.RUnlock()
			return out
		}
		s.mu.RUnlock()
		s.mu.Lock()
		var ids []int64
		for _, id := range s.order {
			if match(id) {
				ids = append(ids, id)
			}
		}
		s.lists[key] = &idList{version: s.version, ids: ids}
		s.mu.Unlock()
	}
}

// pages holds the buffers of page replies already sent (recycled by
// ServeHTTP), so that serving a listing does not allocate and clear 160 KB
// a page: garbage the tool a benchmark measures would pay for, on the CPUs
// it shares with the simulator.
var pages sync.Pool

func pageBuffer() []byte {
	if b, ok := pages.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

// recycle returns a reply's buffer to pages once it was written, if it is
// a page's.
func recycle(reply []byte) {
	if cap(reply) >= 64<<10 {
		pages.Put(&reply)
	}
}

// encodePage writes the list reply for one page of ids (s.mu held).
func (s *Server) encodePage(ids []int64, page, perPage int) []byte {
	total := len(ids)
	totalPages := (total + perPage - 1) / perPage
	var from, to int
	if page <= totalPages {
		from = (page - 1) * perPage
		to = min(from+perPage, total)
	}
	r := newReply(0, msgOK).int("size", int64(to-from)).int("total", int64(total)).int("total_pages", int64(totalPages))
	b := append(pageBuffer(), r.b...)
	b = slices.Grow(b, (to-from)*1600+16)
	b = append(b, `,"contents":[`...)
	var buf [100]int64
	for i, id := range s.inOrder(ids, from, to, buf[:0]) {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendTicketID(b, id)
	}
	return append(b, "]}"...)
}

// appendTicketID encodes a live ticket (s.mu held), through the cache for
// unchanged tickets of the initial data set.
func (s *Server) appendTicketID(b []byte, id int64) []byte {
	if _, ok := s.over[id]; ok || s.enc == nil || id > int64(s.opts.Tickets) {
		return appendTicket(b, s.ticket(id), s.fields)
	}
	return append(b, s.enc.ticket(id, s.encodeInitial)...)
}

// encodeInitial encodes ticket id as generated (s.mu held).
func (s *Server) encodeInitial(b []byte, id int64) []byte {
	return appendTicket(b, s.gen.ticket(id), s.fields)
}

func (s *Server) customerTickets(q url.Values, body []byte) []byte {
	page, perPage, e := pageParams(q)
	if e != "" {
		return paramError(e)
	}
	var req struct {
		Email string `json:"email"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return paramError("email is invalid")
		}
	}
	if strings.TrimSpace(req.Email) == "" {
		return paramError("email is missing")
	}
	s.mu.RLock()
	cust, ok := s.byEmail[strings.ToLower(strings.TrimSpace(req.Email))]
	s.mu.RUnlock()
	if !ok {
		return fail(codeNoCustomer, "未找到相应客户")
	}
	s.churn()
	return s.listed("customer:"+strconv.Itoa(int(cust)), func(id int64) bool {
		_, _, _, c := s.coreOf(id)
		return c == cust
	}, page, perPage)
}

func (s *Server) getTicket(idText string) []byte {
	id, err := strconv.ParseInt(idText, 10, 64)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err != nil || !s.exists(id) {
		return fail(codeNoTicket, "未找到相应工单")
	}
	r := newReply(0, msgOK)
	if s.enc != nil && !s.enc.holds(id) {
		// Filling a whole block to serve one ticket would cost a hundred.
		return r.raw("contents", appendTicket(nil, s.ticket(id), s.fields)).bytes()
	}
	return r.raw("contents", s.appendTicketID(nil, id)).bytes()
}

// flexInt reads an integer sent as a JSON number or a numeric string.
// present is false for an absent, null or empty value.
func flexInt(raw json.RawMessage) (n int64, present, ok bool) {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" || t == `""` {
		return 0, false, true
	}
	if strings.HasPrefix(t, `"`) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, true, false
		}
		t = strings.TrimSpace(s)
	}
	n, err := strconv.ParseInt(t, 10, 64)
	return n, true, err == nil
}

// flexString reads a custom field value: a JSON string or number. null
// reports clear.
func flexString(raw json.RawMessage) (v string, clear, ok bool) {
	t := strings.TrimSpace(string(raw))
	switch {
	case t == "null":
		return "", true, true
	case strings.HasPrefix(t, `"`):
		var s string
		err := json.Unmarshal(raw, &s)
		return s, false, err == nil
	case t != "" && (t[0] == '-' || t[0] >= '0' && t[0] <= '9'):
		var f json.Number
		err := json.Unmarshal(raw, &f)
		return f.String(), false, err == nil
	}
	return "", false, false
}

func (s *Server) agentByEmail(email string) *Agent {
	for i := range agents {
		if strings.EqualFold(agents[i].Email, strings.TrimSpace(email)) {
			return &agents[i]
		}
	}
	return nil
}

func groupByName(name string) *Group {
	for i := range groups {
		if groups[i].Name == strings.TrimSpace(name) {
			return &groups[i]
		}
	}
	return nil
}

func inGroup(a *Agent, groupID int64) bool { return slices.Contains(a.Groups, groupID) }

// checkValue validates a custom field value and returns it in stored (read)
// form: select values become index strings. labels says select values are
// option labels (update) rather than indexes (create).
func checkValue(f *field, v string, labels bool) (string, string) {
	if v == "" {
		return "", ""
	}
	bad := func(what string) (string, string) { return "", "验证失败: " + f.label + " " + what }
	switch f.ctype {
	case ctDate:
		if _, err := time.Parse("2006-01-02", v); err != nil {
			return bad("不是正确的日期格式, 应为 yyyy-mm-dd")
		}
	case ctTime:
		if !parses(v, "15:04:05", "15:04") {
			return bad("不是正确的时间格式, 应为 hh:mm:ss")
		}
	case ctDatetime:
		if !parses(v, "2006-01-02 15:04", "2006-01-02 15:04:05") {
			return bad("不是正确的日期时间格式, 应为 yyyy-mm-dd hh:mm")
		}
	case ctLink:
		if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "ftp://") {
			return bad("不是正确的网址格式, 仅支持http, https 或 ftp 开头的网址")
		}
	case ctNumber:
		if strings.Trim(v, "0123456789") != "" {
			return bad("不是正整数")
		}
	case ctNumeric:
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return bad("不是数值")
		}
	case ctDroplist, ctRadio, ctCheckbox:
		parts := []string{v}
		if f.ctype == ctCheckbox {
			parts = strings.Split(v, ",")
		} else if strings.Contains(v, ",") {
			return bad("只能选择一个选项")
		}
		var idx []int
		for _, p := range parts {
			p = strings.TrimSpace(p)
			i := -1
			if labels {
				i = indexOf(f.options, p)
			} else if n, err := strconv.Atoi(p); err == nil && n >= 0 && n < len(f.options) && strconv.Itoa(n) == p {
				i = n
			}
			if i < 0 {
				if labels {
					return bad("没有名为 " + strconv.Quote(p) + " 的选项 (更新工单时选择类型字段应使用选项名称)")
				}
				return bad("没有索引为 " + strconv.Quote(p) + " 的选项 (创建工单时选择类型字段应使用选项索引)")
			}
			if !slices.Contains(idx, i) {
				idx = append(idx, i)
			}
		}
		slices.Sort(idx)
		out := make([]string, len(idx))
		for k, i := range idx {
			out[k] = strconv.Itoa(i)
		}
		return strings.Join(out, ","), ""
	}
	return v, ""
}

func parses(v string, layouts ...string) bool {
	for _, l := range layouts {
		if _, err := time.Parse(l, v); err == nil {
			return true
		}
	}
	return false
}

// checkFields validates a custom field object against the catalog fields in
// sorted key order; it returns the values to set and the fields to clear (null).
func checkFields(fields []field, in map[string]json.RawMessage, labels bool) (set map[string]string, clear []string, msg string) {
	set = map[string]string{}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := fieldByName(fields, k)
		if f == nil {
			return nil, nil, "验证失败: 未知的自定义字段 " + k
		}
		v, isNull, ok := flexString(in[k])
		if !ok {
			return nil, nil, "验证失败: " + f.label + " 的值应为字符串"
		}
		if isNull {
			clear = append(clear, k)
			continue
		}
		v, m := checkValue(f, v, labels)
		if m != "" {
			return nil, nil, m
		}
		set[k] = v
	}
	return set, clear, ""
}

type createRequest struct {
	Ticket *struct {
		Subject        string `json:"subject"`
		Content        string `json:"content"`
		Email          string `json:"email"`
		Cellphone      string `json:"cellphone"`
		CustomerToken  string `json:"customer_token"`
		Status         string `json:"status"`
		Priority       string `json:"priority"`
		AgentGroupName string `json:"agent_group_name"`
		Assignee       *struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"assignee"`
		TicketField map[string]json.RawMessage `json:"ticket_field"`
	} `json:"ticket"`
}

func (s *Server) create(body []byte) []byte {
	var req createRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return paramError("ticket is invalid: " + err.Error())
	}
	t := req.Ticket
	if t == nil {
		return paramError("ticket is missing")
	}
	var missing []string
	if strings.TrimSpace(t.Subject) == "" {
		missing = append(missing, "ticket[subject] is missing")
	}
	if strings.TrimSpace(t.Content) == "" {
		missing = append(missing, "ticket[content] is missing")
	}
	if missing != nil {
		return paramError(strings.Join(missing, ", "))
	}
	status, priority := 0, 2 // 打开, 标准
	if t.Status != "" {
		if status = indexOf(statusZH, t.Status); status < 0 {
			return fail(codeInvalid, msgStatus)
		}
	}
	if t.Priority != "" {
		if priority = indexOf(priorityZH, t.Priority); priority < 0 {
			return fail(codeInvalid, msgPriority)
		}
	}
	var agent *Agent
	if a := t.Assignee; a != nil && (a.Name != "" || a.Email != "") {
		switch {
		case a.Name == "":
			if agent = s.agentByEmail(a.Email); agent == nil {
				return fail(codeInvalid, msgAgentEmail)
			}
		case a.Email == "":
			for i := range agents {
				if agents[i].Name == strings.TrimSpace(a.Name) {
					agent = &agents[i]
				}
			}
			if agent == nil {
				return fail(codeInvalid, msgAgentName)
			}
		default:
			if agent = s.agentByEmail(a.Email); agent == nil || agent.Name != strings.TrimSpace(a.Name) {
				return fail(codeInvalid, msgAgentInfo)
			}
		}
	}
	var group *Group
	if t.AgentGroupName != "" {
		if group = groupByName(t.AgentGroupName); group == nil {
			return fail(codeInvalid, msgGroup)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set, _, msg := checkFields(s.fields, t.TicketField, false)
	if msg != "" {
		return fail(codeInvalid, msg)
	}
	cust := s.findOrCreateCustomer(strings.TrimSpace(t.CustomerToken), strings.TrimSpace(t.Email), strings.TrimSpace(t.Cellphone))
	c := s.customers[cust]
	now := formatTime(time.Now().Unix())
	nt := &Ticket{Subject: t.Subject, Content: t.Content, ContentType: "text", Platform: "API",
		Priority: priorityZH[priority], Status: statusEN[status],
		User: c.Name, UserEmail: c.Email, UserCellphone: c.Cellphone,
		CustomFields: set, CreatedAt: now, UpdatedAt: now, customer: cust}
	if status > 0 {
		nt.SolvingAt = now
	}
	if agent != nil {
		nt.Assignee, nt.AssigneeID = agent.Name, agent.ID
		if group == nil {
			group = s.groupByID[agent.Groups[0]]
		}
	}
	if group != nil {
		nt.UserGroupID, nt.UserGroupName = group.ID, group.Name
	}
	id := s.add(nt)
	return newReply(0, "工单创建成功").int("ticket_id", id).bytes()
}

// findOrCreateCustomer follows the spec's lookup order: customer_token, then
// email (setting cellphone on it), then cellphone (setting email on it), else
// a new customer. A value already owned by another customer is not moved.
func (s *Server) findOrCreateCustomer(token, email, phone string) int32 {
	if i, ok := s.byToken[token]; ok && token != "" {
		return i
	}
	if i, ok := s.byEmail[strings.ToLower(email)]; ok && email != "" {
		if _, taken := s.byPhone[phone]; phone != "" && !taken {
			delete(s.byPhone, s.customers[i].Cellphone)
			s.customers[i].Cellphone = phone
			s.byPhone[phone] = i
		}
		return i
	}
	if i, ok := s.byPhone[phone]; ok && phone != "" {
		if email != "" {
			delete(s.byEmail, strings.ToLower(s.customers[i].Email))
			s.customers[i].Email = email
			s.byEmail[strings.ToLower(email)] = i
		}
		return i
	}
	c := Customer{Email: email, Cellphone: phone, Token: token}
	i := int32(len(s.customers))
	switch {
	case email != "":
		c.Name = email
	case phone != "":
		c.Name = phone
	case token != "":
		c.Name = token
	default:
		c.Name = "访客" + strconv.Itoa(int(i)+1)
	}
	s.customers = append(s.customers, c)
	s.indexCustomer(i, c)
	return i
}

type updateRequest struct {
	Ticket *struct {
		Subject        string                     `json:"subject"`
		Content        string                     `json:"content"`
		Status         string                     `json:"status"`
		Priority       string                     `json:"priority"`
		AgentEmail     string                     `json:"agent_email"`
		AgentID        json.RawMessage            `json:"agent_id"`
		AgentGroupName string                     `json:"agent_group_name"`
		AgentGroupID   json.RawMessage            `json:"agent_group_id"`
		Tags           *string                    `json:"tags"`
		FollowerEmails string                     `json:"follower_emails"`
		FollowerIDs    json.RawMessage            `json:"follower_ids"`
		CustomFields   map[string]json.RawMessage `json:"custom_fields"`
		Comment        *struct {
			Function    string `json:"function"`
			AuthorEmail string `json:"author_email"`
			Body        string `json:"body"`
		} `json:"comment"`
	} `json:"ticket"`
}

func (s *Server) update(idText string, body []byte) []byte {
	var req updateRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return paramError("ticket is invalid: " + err.Error())
	}
	t := req.Ticket
	if t == nil {
		return paramError("ticket is missing")
	}
	agentID, hasAgentID, ok := flexInt(t.AgentID)
	if !ok {
		return paramError("ticket[agent_id] is invalid")
	}
	groupID, hasGroupID, ok := flexInt(t.AgentGroupID)
	if !ok {
		return paramError("ticket[agent_group_id] is invalid")
	}
	followerIDs, ok := parseIDList(t.FollowerIDs)
	if !ok {
		return paramError("ticket[follower_ids] is invalid")
	}
	switch {
	case t.AgentEmail != "" && hasAgentID:
		return paramError("agent_email, agent_id are mutually exclusive")
	case t.AgentGroupName != "" && hasGroupID:
		return paramError("agent_group_name, agent_group_id are mutually exclusive")
	case t.FollowerEmails != "" && followerIDs != nil:
		return paramError("follower_emails, follower_ids are mutually exclusive")
	case t.Comment != nil && strings.TrimSpace(t.Comment.Body) == "":
		return paramError("ticket[comment][body] is missing")
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || !s.exists(id) {
		return fail(codeNoTicket, "未找到相应工单")
	}
	status, priority := -1, -1
	if t.Status != "" {
		if status = indexOf(statusEN, t.Status); status < 0 {
			return fail(codeStatusEN, "参数'状态'传递有误")
		}
	}
	if t.Priority != "" {
		if priority = indexOf(priorityEN, t.Priority); priority < 0 {
			return fail(codeInvalid, msgPriority)
		}
	}
	var agent *Agent
	switch {
	case t.AgentEmail != "":
		if agent = s.agentByEmail(t.AgentEmail); agent == nil {
			return fail(codeAgentEmail, "未找到邮箱为"+t.AgentEmail+"的客服")
		}
	case hasAgentID:
		if agent = s.agentByID[agentID]; agent == nil {
			return fail(codeInvalid, msgAgentNotFound)
		}
	}
	var group *Group
	switch {
	case t.AgentGroupName != "":
		if group = groupByName(t.AgentGroupName); group == nil {
			return fail(codeInvalid, msgGroup)
		}
	case hasGroupID:
		if group = s.groupByID[groupID]; group == nil {
			return fail(codeInvalid, msgGroup)
		}
	}
	if agent != nil && group != nil && !inGroup(agent, group.ID) {
		return fail(codeNotInGroup, "指定的客服不属于给定的员工组")
	}
	var followers []int64
	if t.FollowerEmails != "" {
		for e := range strings.SplitSeq(t.FollowerEmails, ",") {
			a := s.agentByEmail(e)
			if a == nil {
				return fail(codeAgentEmail, "未找到邮箱为"+strings.TrimSpace(e)+"的客服")
			}
			followers = append(followers, a.ID)
		}
	}
	for _, fid := range followerIDs {
		if s.agentByID[fid] == nil {
			return fail(codeInvalid, msgAgentNotFound)
		}
		followers = append(followers, fid)
	}
	set, clear, msg := checkFields(s.fields, t.CustomFields, true)
	if msg != "" {
		return fail(codeInvalid, msg)
	}
	var author *Agent
	if c := t.Comment; c != nil {
		if c.Function != "internal" && c.Function != "external" {
			return fail(codeComment, "回复类型非法")
		}
		if author = s.agentByEmail(c.AuthorEmail); author == nil {
			return fail(codeComment, "回复人不存在")
		}
	}

	// Everything is valid: apply.
	nowT := time.Now()
	now := formatTime(nowT.Unix())
	s.change(id, func(nt *Ticket) {
		if t.Subject != "" {
			nt.Subject = t.Subject
		}
		if t.Content != "" {
			nt.Content = t.Content
		}
		if status >= 0 {
			nt.Status = statusEN[status]
			if status > 0 && nt.SolvingAt == "" {
				nt.SolvingAt = now
			}
		}
		if priority >= 0 {
			nt.Priority = priorityZH[priority]
		}
		if group != nil {
			nt.UserGroupID, nt.UserGroupName = group.ID, group.Name
			if agent == nil && nt.AssigneeID != 0 && !inGroup(s.agentByID[nt.AssigneeID], group.ID) {
				nt.Assignee, nt.AssigneeID = "", 0
			}
		}
		if agent != nil {
			nt.Assignee, nt.AssigneeID = agent.Name, agent.ID
			if group == nil && !inGroup(agent, nt.UserGroupID) {
				g := s.groupByID[agent.Groups[0]]
				nt.UserGroupID, nt.UserGroupName = g.ID, g.Name
			}
		}
		if t.Tags != nil {
			nt.Tags = *t.Tags
		}
		if followers != nil {
			nt.Followers = followers
		}
		for k, v := range set {
			nt.CustomFields[k] = v
		}
		for _, k := range clear {
			delete(nt.CustomFields, k)
		}
		if author != nil {
			s.replies[id] = append(s.replies[id], Reply{Kind: t.Comment.Function, Author: author.Email, Body: t.Comment.Body, At: nowT})
			nt.RepliedBy = "agent_" + strconv.FormatInt(author.ID, 10)
		}
	})
	return fail(0, msgOK)
}

// parseIDList reads follower_ids: "1,2", a number, or an array of numbers.
func parseIDList(raw json.RawMessage) ([]int64, bool) {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" || t == `""` {
		return nil, true
	}
	var nums []int64
	if strings.HasPrefix(t, "[") {
		if json.Unmarshal(raw, &nums) != nil {
			return nil, false
		}
		return nums, true
	}
	if strings.HasPrefix(t, `"`) {
		if json.Unmarshal(raw, &t) != nil {
			return nil, false
		}
	}
	for p := range strings.SplitSeq(t, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil {
			return nil, false
		}
		nums = append(nums, n)
	}
	return nums, true
}

func (s *Server) reply(body []byte) []byte {
	var req struct {
		ID           json.RawMessage `json:"id"`
		ReplyContent string          `json:"reply_content"`
		Email        string          `json:"email"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return paramError("request body is invalid: " + err.Error())
	}
	id, hasID, ok := flexInt(req.ID)
	if !ok {
		return paramError("id is invalid")
	}
	var missing []string
	if !hasID {
		missing = append(missing, "id is missing")
	}
	if strings.TrimSpace(req.ReplyContent) == "" {
		missing = append(missing, "reply_content is missing")
	}
	if strings.TrimSpace(req.Email) == "" {
		missing = append(missing, "email is missing")
	}
	if missing != nil {
		return paramError(strings.Join(missing, ", "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.exists(id) {
		return fail(codeNoTicket, "未找到相应工单")
	}
	cust, ok := s.byEmail[strings.ToLower(strings.TrimSpace(req.Email))]
	if !ok {
		return fail(codeNoCustomer2, "未找到相应客户")
	}
	now := time.Now()
	s.replies[id] = append(s.replies[id], Reply{Kind: "customer", Author: s.customers[cust].Email, Body: req.ReplyContent, At: now})
	s.change(id, func(nt *Ticket) { nt.RepliedBy = "customer_" + strconv.Itoa(int(cust)+1) })
	return fail(0, msgOK)
}
