package udesktest

import (
	"strconv"
	"strings"
	"time"
)

// Ticket is one ticket in its wire-read form, as the read endpoints serve it:
// status as an English name, priority and platform as Chinese names, select
// custom fields as option index strings ("0", "0,3"), times as
// "2006-01-02 15:04:05 +0800".
type Ticket struct {
	ID            int64  `json:"id"`
	Subject       string `json:"subject"`
	Content       string `json:"content"`
	ContentType   string `json:"content_type"` // "text" or "html"
	Platform      string `json:"platform"`
	Priority      string `json:"priority"`
	Status        string `json:"status"`
	User          string `json:"user"`
	UserEmail     string `json:"user_email"`     // "" is served as null
	UserCellphone string `json:"user_cellphone"` // "" is served as null
	Assignee      string `json:"assignee"`       // "" is served as null
	AssigneeID    int64  `json:"assignee_id"`    // 0 is served as null
	UserGroupID   int64  `json:"user_group_id"`  // 0 is served as null
	UserGroupName string `json:"user_group_name"`
	SolvingAt     string `json:"solving_at"` // "" until the ticket first went to solving
	RepliedBy     string `json:"replied_by"` // "" is served as null
	// CustomFields maps field_name to its value; a field without a key is
	// served as null, an empty string as "". Only catalog fields are served.
	CustomFields map[string]string `json:"custom_fields"`
	CreatedAt    string            `json:"created_at"`
	UpdatedAt    string            `json:"updated_at"`

	// Set by updates but not part of the read form.
	Tags      string  `json:"-"`
	Followers []int64 `json:"-"` // agent ids

	customer int32 // index into the customer table: tickets/get matches on it
}

func (t *Ticket) clone() *Ticket {
	c := *t
	c.CustomFields = make(map[string]string, len(t.CustomFields))
	for k, v := range t.CustomFields {
		c.CustomFields[k] = v
	}
	c.Followers = append([]int64(nil), t.Followers...)
	return &c
}

// Agent is one agent (客服) of the simulated tenant.
type Agent struct {
	ID     int64
	Name   string
	Email  string
	Groups []int64 // group ids; the first is the agent's default group
}

// Group is one agent group (客服组).
type Group struct {
	ID   int64
	Name string
}

// Customer is one customer (客户). Empty strings mean "not set".
type Customer struct {
	Name      string
	Email     string
	Cellphone string
	Token     string // customer_token, the external unique id
}

// Reply is one reply added to a ticket: an agent comment through an update
// (Kind "internal" or "external") or a customer reply (Kind "customer").
type Reply struct {
	Kind   string
	Author string // the agent's or customer's email
	Body   string
	At     time.Time
}

// The fixed agents and groups. The spec's own examples (assignee
// agent@sample.com, group 默认组, customer test@sample.com) work as written.
var (
	groups = []Group{
		{1, "售后1组"}, {2, "售后2组"}, {3, "售前组"}, {4, "English Support"}, {5, "默认组"},
	}
	agents = []Agent{
		{1, "测试客服", "agent@sample.com", []int64{1, 5}},
		{2, "系统管理员", "admin@example.com", []int64{1, 2, 3, 4, 5}},
		{3, "张伟", "zhang.wei@example.com", []int64{1}},
		{4, "李娜", "li.na@example.com", []int64{1, 2}},
		{5, "王芳", "wang.fang@example.com", []int64{2}},
		{6, "刘洋", "liu.yang@example.com", []int64{3}},
		{7, "陈静", "chen.jing@example.com", []int64{3, 5}},
		{8, "Alice Smith", "alice@example.com", []int64{4}},
		{9, "Bob Lee", "bob.lee@example.com", []int64{4, 2}},
	}
	// adminID is the agent a filter is read for when no agent_id is given; it may use every filter.
	adminID int64 = 2
)

// fixedCustomers come first in the customer table; the rest are generated.
var fixedCustomers = []Customer{
	{Name: "测试客户", Email: "test@sample.com"},
	{Name: "王小明", Email: "xiaoming.wang@example.net", Cellphone: "13800000001", Token: "vip-0001"},
	{Name: "Jane Doe", Email: "jane.doe@example.org"},
	{Name: "赵六", Cellphone: "13900000003"},
}

// generatedCustomers is how many customers the data set adds to the fixed ones.
const generatedCustomers = 996

var (
	surnames   = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭"}
	givenNames = []string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "晓东", "子涵"}
	westNames  = []string{"John Smith", "Emily Chen", "Michael Brown", "Sarah O'Neil", "David Müller", "Anna Kowalski", "Kenji Tanaka", "María García"}
)

func generateCustomers(seed int64) []Customer {
	cs := append([]Customer(nil), fixedCustomers...)
	for i := len(cs); i < len(fixedCustomers)+generatedCustomers; i++ {
		r := newRNG(seed, int64(i), streamCustomer)
		var name string
		if r.chance(0.15) {
			name = westNames[r.intn(len(westNames))]
		} else {
			name = surnames[r.intn(len(surnames))] + givenNames[r.intn(len(givenNames))]
		}
		n := strconv.Itoa(i)
		c := Customer{Name: name}
		if !r.chance(0.1) { // 10% are known by cellphone only
			c.Email = "customer" + n + "@example.net"
		}
		if c.Email == "" || r.chance(0.6) {
			c.Cellphone = strconv.Itoa(13000000000 + i*7919)
		}
		if r.chance(0.2) {
			c.Token = "cust-" + n
		}
		cs = append(cs, c)
	}
	return cs
}

// Value names (spec: 数据结构-工单).
var (
	statusEN   = []string{"open", "solving", "resolved", "closed"}
	statusZH   = []string{"打开", "解决中", "已解决", "已关闭"}
	priorityZH = []string{"紧急", "高", "标准", "低"}
	priorityEN = []string{"urgency", "high", "medium", "low"}
	platforms  = []string{"邮件", "微博", "微信", "即时聊天", "电话", "反馈标签", "帮助中心", "手工录入", "API"}
)

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// weighted picks an index with the given relative weights.
func (r *rng) weighted(w []int) int {
	total := 0
	for _, x := range w {
		total += x
	}
	n := r.intn(total)
	for i, x := range w {
		if n < x {
			return i
		}
		n -= x
	}
	return len(w) - 1
}

var (
	statusWeights   = []int{30, 25, 30, 15}
	priorityWeights = []int{5, 20, 60, 15}
	platformWeights = []int{25, 5, 15, 20, 15, 3, 5, 7, 5}
)

// RNG streams, so that each part of a ticket is drawn independently and the
// cheap core attributes can be computed without generating the text.
const (
	streamCore uint64 = iota + 1
	streamText
	streamCustomer
	streamChurn
	streamMutate
)

// rng is splitmix64: tiny state, good enough spread, and seeded per ticket so
// that ticket i is the same whatever else is generated.
type rng struct{ s uint64 }

func newRNG(seed, id int64, stream uint64) rng {
	r := rng{s: uint64(seed)*0x9E3779B97F4A7C15 ^ uint64(id)*0xD1B54A32D192ED03 ^ stream*0x8CB92BA72F3D8DD7}
	r.next()
	return r
}

func (r *rng) next() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func (r *rng) chance(p float64) bool { return float64(r.next()>>11)/(1<<53) < p }

// core is what listings filter on: cheap to compute for a million tickets.
type core struct {
	customer int32
	status   int8
	priority int8
	agent    int8 // index into agents, -1 none
	group    int8 // index into groups, -1 none
}

// generator turns (seed, id) into a ticket of the initial data set.
type generator struct {
	seed      int64
	customers []Customer // the table as generated, unaffected by later creates
	epoch     int64      // unix time of ticket 1's creation
}

var cst = time.FixedZone("CST", 8*3600)

func newGenerator(seed int64) *generator {
	return &generator{
		seed:      seed,
		customers: generateCustomers(seed),
		epoch:     time.Date(2019, 1, 1, 8, 0, 0, 0, cst).Unix(),
	}
}

func (g *generator) core(id int64) core {
	r := newRNG(g.seed, id, streamCore)
	c := core{
		customer: int32(r.intn(len(g.customers))),
		status:   int8(r.weighted(statusWeights)),
		priority: int8(r.weighted(priorityWeights)),
		agent:    -1,
		group:    -1,
	}
	switch x := r.intn(100); {
	case x < 85:
		c.agent = int8(r.intn(len(agents)))
		a := agents[c.agent]
		c.group = int8(groupIndex(a.Groups[r.intn(len(a.Groups))]))
	case x < 95:
		c.group = int8(r.intn(len(groups)))
	}
	return c
}

func groupIndex(id int64) int {
	for i, g := range groups {
		if g.ID == id {
			return i
		}
	}
	return -1
}

var (
	subjects = []string{
		"无法登录账户", "Refund request for order #%d", "发票开具问题", "App crashes on startup (Android 14)",
		"物流信息三天未更新", "修改收货地址", "Password reset email not received", "会员积分未到账",
		"产品质量投诉：屏幕有坏点", "Question about API rate limits", "退货流程咨询", "Bulk export fails with timeout",
		"账单金额与合同不符 / invoice mismatch", "预约上门安装", "Cannot upload attachment > 10MB", "优惠券无法使用",
		"申请开通企业账号", "Shipping to Hong Kong?", "订单 #%d 重复扣款", "功能建议：支持暗色模式",
		"\"紧急\" 客户来电 & 回访", "Wi-Fi 连接不稳定 😟",
	}
	// Text that a spreadsheet would read as a formula.
	formulaSubjects = []string{
		"=SUM(A1:A3) 出现在标题里", "-1 星评价：服务太差", "+86 号码无法接通", "@客服 请尽快回复",
		"=HYPERLINK(\"http://evil.example\",\"点我\")",
	}
	greetings = []string{"您好，", "Hi team,", "你好", "Hello,", "客服您好："}
	bodies    = []string{
		"我在 %d 号下的订单一直没有发货，请帮忙查询。",
		"The app shows error code E%d when I try to sign in.",
		"附件里是截图，路径是 C:\\Users\\data\\report-%d.xlsx",
		"已经打了三次电话，\t每次都说会回电，但没有人联系我。",
		"Could you please check invoice INV-%d? The amount is wrong.",
		"价格写的是 \"99元\"，结算时却变成了 129 元。",
		"-- 以下是系统自动附带的信息 --",
		"请尽快处理，谢谢 🙏",
	}
	closings   = []string{"谢谢！", "Thanks,\r\nJane", "期待回复", "Best regards", ""}
	textValues = []string{"普通文本内容", "VIP客户", "=1+2", "-5 分", "回访完成", "Follow up next week", "订单号 A%d", "'已确认"}
	areaLines  = []string{"多行文本内容1", "第二行：客户要求回电", "Line with, comma", "=A1*2", "最后一行"}
	links      = []string{"https://www.example.com/orders/%d", "http://shop.example.cn/p?id=%d&ref=udesk", "ftp://files.example.org/logs/%d.zip"}
)

// fill replaces the one %d of a template with n.
func fill(tmpl string, n int64) string {
	if i := strings.Index(tmpl, "%d"); i >= 0 {
		return tmpl[:i] + strconv.FormatInt(n, 10) + tmpl[i+2:]
	}
	return tmpl
}

// ticket generates ticket id of the initial data set.
func (g *generator) ticket(id int64) *Ticket {
	c := g.core(id)
	return g.ticketFromCore(id, c)
}

func (g *generator) ticketFromCore(id int64, c core) *Ticket {
	r := newRNG(g.seed, id, streamText)
	t := &Ticket{ID: id, ContentType: "text", customer: c.customer}
	t.Status = statusEN[c.status]
	t.Priority = priorityZH[c.priority]
	t.Platform = platforms[r.weighted(platformWeights)]
	n := int64(r.intn(900000) + 100000)
	if r.chance(0.03) {
		t.Subject = formulaSubjects[r.intn(len(formulaSubjects))]
	} else {
		t.Subject = fill(subjects[r.intn(len(subjects))], n)
	}
	var b strings.Builder
	b.WriteString(greetings[r.intn(len(greetings))])
	for k := 1 + r.intn(3); k > 0; k-- {
		b.WriteString("\r\n")
		b.WriteString(fill(bodies[r.intn(len(bodies))], n))
	}
	if cl := closings[r.intn(len(closings))]; cl != "" {
		b.WriteString("\r\n")
		b.WriteString(cl)
	}
	t.Content = b.String()
	switch x := r.intn(100); {
	case x < 8:
		t.ContentType = "html"
		t.Content = "<p>" + strings.ReplaceAll(t.Content, "\r\n", "</p><p>") + "</p>"
	case x < 11:
		t.Content = "-" + t.Content // starts like a formula
	}
	cu := g.customers[c.customer]
	t.User, t.UserEmail, t.UserCellphone = cu.Name, cu.Email, cu.Cellphone
	if c.agent >= 0 {
		a := agents[c.agent]
		t.Assignee, t.AssigneeID = a.Name, a.ID
	}
	if c.group >= 0 {
		t.UserGroupID, t.UserGroupName = groups[c.group].ID, groups[c.group].Name
	}
	created := g.epoch + id*150 + int64(r.intn(150))
	updated := created + int64(r.intn(30*86400))
	t.CreatedAt = formatTime(created)
	t.UpdatedAt = formatTime(updated)
	if c.status > 0 {
		t.SolvingAt = formatTime(created + (updated-created)/3)
	}
	switch x := r.intn(100); {
	case x < 55 && c.agent >= 0:
		t.RepliedBy = "agent_" + strconv.FormatInt(agents[c.agent].ID, 10)
	case x < 75:
		t.RepliedBy = "customer_" + strconv.Itoa(int(c.customer)+1)
	}
	t.CustomFields = make(map[string]string, len(catalog))
	for i := range catalog {
		f := &catalog[i]
		switch x := r.intn(100); {
		case x < 10:
			continue // null
		case x < 15 && f.options == nil && f.ctype != ctChained:
			t.CustomFields[f.name] = ""
			continue
		}
		t.CustomFields[f.name] = g.value(f, &r, created, n)
	}
	return t
}

// value draws a custom field value in wire form.
func (g *generator) value(f *field, r *rng, created, n int64) string {
	switch f.ctype {
	case ctText:
		return fill(textValues[r.intn(len(textValues))], n)
	case ctAreaText:
		k := 2 + r.intn(2)
		lines := make([]string, k)
		for i := range lines {
			lines[i] = areaLines[r.intn(len(areaLines))]
		}
		return strings.Join(lines, "\r\n")
	case ctDate:
		return string(appendDate(nil, created+int64(r.intn(60))*86400))
	case ctTime:
		return string(appendClock(nil, int64(r.intn(86400)))[1:])
	case ctDatetime:
		at := created + int64(r.intn(30*86400))
		return string(appendClock(appendDate(nil, at), at)[:16])
	case ctLink:
		return fill(links[r.intn(len(links))], n)
	case ctNumber:
		return strconv.Itoa(r.intn(1000))
	case ctNumeric:
		v := float64(r.intn(1000000)) / 100
		if r.chance(0.05) {
			v = -v
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	case ctDroplist, ctRadio:
		return strconv.Itoa(r.intn(len(f.options)))
	case ctCheckbox:
		var picked []string
		for i := range f.options {
			if r.chance(0.4) {
				picked = append(picked, strconv.Itoa(i))
			}
		}
		return strings.Join(picked, ",")
	case ctChained:
		return strconv.Itoa(r.intn(2)) + "," + strconv.Itoa(r.intn(2)) + ",0"
	}
	return ""
}

// timeLayout is the API's time form.
const timeLayout = "2006-01-02 15:04:05 -0700"

// formatTime writes unix seconds as the API does: "2006-01-02 15:04:05 +0800".
// By hand: time.Format is a visible cost when every ticket of a page is
// generated on the fly.
func formatTime(unix int64) string {
	var buf [25]byte
	b := appendClock(appendDate(buf[:0], unix), unix)
	return string(append(b, " +0800"...))
}

// appendDate writes the +0800 calendar date of unix seconds: "2006-01-02".
func appendDate(b []byte, unix int64) []byte {
	y, m, d := time.Unix(unix+8*3600, 0).UTC().Date()
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append(b, byte('0'+int(m)/10), byte('0'+int(m)%10), '-')
	return append(b, byte('0'+d/10), byte('0'+d%10))
}

// appendClock writes " 15:04:05" of the +0800 time of unix seconds.
func appendClock(b []byte, unix int64) []byte {
	sec := (unix + 8*3600) % 86400
	if sec < 0 {
		sec += 86400
	}
	h, m, s := sec/3600, sec/60%60, sec%60
	return append(b, ' ', byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
}
