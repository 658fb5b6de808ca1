package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// OpKind is what an import does with each row.
type OpKind int

// The operations of an import. The zero OpKind is none of them.
const (
	Create OpKind = iota + 1 // POST /api/v1/tickets.json
	Update                   // PUT /api/v1/tickets/:id.json
	Reply                    // POST /api/v1/tickets/reply.json
)

func (k OpKind) String() string {
	switch k {
	case Create:
		return "create"
	case Update:
		return "update"
	case Reply:
		return "reply"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// ImportOptions choose the operation and how cells are read.
type ImportOptions struct {
	Op OpKind
	// SelectValues is SelectAuto (""), SelectLabels or SelectIndexes: how
	// select field cells are written. With SelectAuto a value that is one
	// option's label and another option's index is an error.
	SelectValues string
	Mapping      *MappingFile // nil: columns named as CLI.md says
	// lateRequired lets a file lack a required column: each row that needs
	// it fails instead (an upsert's rows that update need no content).
	lateRequired bool
}

// Operation is one API write built from one input row. Exactly one of
// Create, Update and Reply is set, as Kind says.
type Operation struct {
	Pos    pipeline.Position
	Kind   OpKind
	ID     int64 // the target ticket of an update or reply
	Create *udesk.NewTicket
	Update *udesk.TicketUpdate
	Reply  *udesk.Reply
}

// attr is what an import column sets.
type attr uint8

const (
	attrIgnored attr = iota // an export column this operation does not use
	attrID
	attrSubject
	attrContent
	attrEmail
	attrCellphone
	attrCustomerToken
	attrStatus
	attrPriority
	attrAssigneeName
	attrAssigneeEmail
	attrAgentGroupName
	attrAgentEmail
	attrAgentID
	attrAgentGroupID
	attrTags
	attrFollowerEmails
	attrFollowerIDs
	attrCommentFunction
	attrCommentAuthor
	attrCommentBody
	attrReplyContent
	attrCustom
	attrCount
)

// opColumns names the columns of each operation: our column name, then
// export's aliases of it. Names mapped to attrIgnored are export columns the
// operation skips (round trip).
var opColumns = map[OpKind][]struct {
	a     attr
	names []string
}{
	Create: {
		{attrSubject, []string{"subject"}},
		{attrContent, []string{"content"}},
		{attrEmail, []string{"email", "user_email"}},
		{attrCellphone, []string{"cellphone", "user_cellphone"}},
		{attrCustomerToken, []string{"customer_token"}},
		{attrStatus, []string{"status"}},
		{attrPriority, []string{"priority"}},
		{attrAssigneeName, []string{"assignee_name", "assignee"}},
		{attrAssigneeEmail, []string{"assignee_email"}},
		{attrAgentGroupName, []string{"agent_group_name", "user_group_name"}},
		{attrIgnored, []string{"id", "content_type", "platform", "user", "assignee_id", "user_group_id",
			"solving_at", "replied_by", "created_at", "updated_at"}},
	},
	Update: {
		{attrID, []string{"id"}},
		{attrSubject, []string{"subject"}},
		{attrContent, []string{"content"}},
		{attrStatus, []string{"status"}},
		{attrPriority, []string{"priority"}},
		{attrAgentEmail, []string{"agent_email"}},
		{attrAgentID, []string{"agent_id", "assignee_id"}},
		{attrAgentGroupName, []string{"agent_group_name"}},
		{attrAgentGroupID, []string{"agent_group_id", "user_group_id"}},
		{attrTags, []string{"tags"}},
		{attrFollowerEmails, []string{"follower_emails"}},
		{attrFollowerIDs, []string{"follower_ids"}},
		{attrCommentFunction, []string{"comment_function"}},
		{attrCommentAuthor, []string{"comment_author_email"}},
		{attrCommentBody, []string{"comment_body"}},
		{attrIgnored, []string{"content_type", "platform", "user", "user_email", "user_cellphone", "assignee",
			"user_group_name", "solving_at", "replied_by", "created_at", "updated_at"}},
	},
	Reply: {
		{attrID, []string{"id"}},
		{attrReplyContent, []string{"reply_content"}},
		{attrEmail, []string{"email", "user_email"}},
		{attrIgnored, []string{"subject", "content", "content_type", "platform", "priority", "status", "user",
			"user_cellphone", "assignee", "assignee_id", "user_group_id", "user_group_name", "solving_at",
			"replied_by", "created_at", "updated_at"}},
	},
}

// required lists the attributes every row of an operation must fill.
var required = map[OpKind][]attr{
	Create: {attrSubject, attrContent},
	Update: {attrID},
	Reply:  {attrID, attrReplyContent, attrEmail},
}

// exclusive pairs of update columns: at most one of each may be filled in a row.
var exclusive = [][2]attr{
	{attrAgentEmail, attrAgentID},
	{attrAgentGroupName, attrAgentGroupID},
	{attrFollowerEmails, attrFollowerIDs},
}

var commentAttrs = []attr{attrCommentFunction, attrCommentAuthor, attrCommentBody}

// target is one thing a column can set: a ticket attribute or a custom field.
type target struct {
	a     attr
	name  string       // our column name or the custom field's field_name
	field *udesk.Field // custom fields only
	norm  func(string) (string, error)
}

// binding ties an input column (or a mapping default or constant) to a target.
type binding struct {
	col      int    // index in the header; -1 when only the mapping supplies the value
	header   string // the column's name in the file, or the target's name
	t        *target
	values   map[string]string // mapping translations, keyed by normKey of the source value
	def      string
	hasDef   bool
	constant string
	hasConst bool
}

// Importer turns input rows into API operations for one file's header. It is
// read-only after NewImporter and safe for concurrent use.
type Importer struct {
	op       OpKind
	bindings []binding
	byAttr   [attrCount]int // attribute -> index in bindings, -1 when not bound
	attrs    map[string]attr
	cat      *Catalog
	mode     string
	absent   []string // required columns the file lacks (ImportOptions.lateRequired)
}

// NewImporter matches a file's header to the operation's columns and the
// catalog's custom fields (by field_name or field_label, ignoring case and
// white space; the operation's own column names win over field labels),
// applying the mapping file if any. Every problem is reported at
// once (errors.Join): unknown columns (one error listing them all), ambiguous
// labels, two columns setting the same thing, missing required columns, and
// anything in the mapping file that does not fit the catalog.
func NewImporter(cat *Catalog, header []string, opts ImportOptions) (*Importer, error) {
	if _, ok := opColumns[opts.Op]; !ok {
		return nil, fmt.Errorf("import: no operation chosen (create, update or reply)")
	}
	switch opts.SelectValues {
	case SelectAuto, SelectLabels, SelectIndexes:
	default:
		return nil, fmt.Errorf("select values %q: expected %q or %q", opts.SelectValues, SelectLabels, SelectIndexes)
	}
	im := &Importer{op: opts.Op, cat: cat, mode: opts.SelectValues, attrs: map[string]attr{}}
	for _, c := range opColumns[opts.Op] {
		for _, n := range c.names {
			im.attrs[attrKey(n)] = c.a
		}
	}
	for i := range im.byAttr {
		im.byAttr[i] = -1
	}
	m := opts.Mapping
	if m == nil {
		m = &MappingFile{}
	}
	var errs []error
	mapErr := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("mapping file %s: "+format, append([]any{m.Path}, args...)...))
	}

	// The mapping's own references, checked whole against the catalog.
	rename := map[string]string{}
	for _, src := range sortedKeys(m.Columns) {
		dst := m.Columns[src]
		rename[normKey(src)] = dst
		if t, err := im.target(dst); err != nil {
			mapErr("columns: %q -> %q: %v", src, dst, err)
		} else if t.a == attrIgnored {
			mapErr("columns: %q -> %q: %s does not use %q", src, dst, im.op, dst)
		}
	}
	ignore := map[string]bool{}
	for _, h := range m.Ignore {
		ignore[normKey(h)] = true
	}
	type extra struct {
		values           map[string]string
		def, constant    string
		hasDef, hasConst bool
	}
	extras := map[*target]*extra{}
	var extraOrder []*target
	byName := map[string]*target{}
	section := func(what, col string, check func(t *target, e *extra)) {
		t, err := im.target(col)
		if err == nil && t.a == attrIgnored {
			err = fmt.Errorf("%s does not use %q", im.op, col)
		}
		if err != nil {
			mapErr("%s: %q: %v", what, col, err)
			return
		}
		if prev, ok := byName[t.name]; ok {
			t = prev // several sections may name one target, by different names
		} else {
			byName[t.name] = t
		}
		e := extras[t]
		if e == nil {
			e = &extra{}
			extras[t] = e
			extraOrder = append(extraOrder, t)
		}
		check(t, e)
	}
	for _, col := range sortedKeys(m.Values) {
		section("values", col, func(t *target, e *extra) {
			if e.values == nil {
				e.values = map[string]string{}
			}
			for _, from := range sortedKeys(m.Values[col]) {
				to := m.Values[col][from]
				if _, err := t.norm(to); err != nil && !blank(to) {
					mapErr("values of %q: %q -> %q: %v", col, from, to, err)
				}
				e.values[normKey(from)] = to
			}
		})
	}
	for _, col := range sortedKeys(m.Defaults) {
		section("defaults", col, func(t *target, e *extra) {
			e.def, e.hasDef = m.Defaults[col], true
			if _, err := t.norm(e.def); err != nil {
				mapErr("defaults: %q: %v", col, err)
			}
		})
	}
	for _, col := range sortedKeys(m.Constants) {
		section("constants", col, func(t *target, e *extra) {
			e.constant, e.hasConst = m.Constants[col], true
			if _, err := t.norm(e.constant); err != nil {
				mapErr("constants: %q: %v", col, err)
			}
		})
	}

	// The file's columns.
	var unknown []string
	bound := map[string]int{} // target name -> index in bindings
	for i, h := range header {
		k := normKey(h)
		if ignore[k] {
			continue
		}
		name, renamed := rename[k]
		if !renamed {
			name = h
		}
		t, err := im.target(name)
		switch {
		case renamed && err != nil:
			continue // reported with the mapping
		case errors.Is(err, ErrUnknownField):
			if !m.IgnoreUnknown {
				unknown = append(unknown, strconv.Quote(h))
			}
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("column %q: %w", h, err))
			continue
		case t.a == attrIgnored:
			continue
		}
		if j, dup := bound[t.name]; dup {
			errs = append(errs, fmt.Errorf("columns %q and %q both set %s; keep one", im.bindings[j].header, h, t.name))
			continue
		}
		if prev, ok := byName[t.name]; ok {
			t = prev
		}
		bound[t.name] = len(im.bindings)
		im.bindings = append(im.bindings, binding{col: i, header: h, t: t})
	}
	if len(unknown) > 0 {
		errs = append(errs, fmt.Errorf("unknown columns %s: not a --%s column (%s) nor a custom field of the catalog (by field_name or field_label); rename or ignore them in a mapping file",
			strings.Join(unknown, ", "), im.op, im.columnList()))
	}
	for _, t := range extraOrder {
		j, ok := bound[t.name]
		if !ok {
			j = len(im.bindings)
			bound[t.name] = j
			im.bindings = append(im.bindings, binding{col: -1, header: t.name, t: t})
		}
		e, b := extras[t], &im.bindings[j]
		b.values, b.def, b.hasDef, b.constant, b.hasConst = e.values, e.def, e.hasDef, e.constant, e.hasConst
	}
	for j, b := range im.bindings {
		if b.t.a != attrCustom {
			im.byAttr[b.t.a] = j
		}
	}
	for _, a := range required[im.op] {
		switch {
		case im.byAttr[a] >= 0:
		case opts.lateRequired:
			im.absent = append(im.absent, im.attrName(a))
		default:
			errs = append(errs, fmt.Errorf("no %s column: %s needs %s", im.attrName(a), im.op, im.requiredList()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return im, nil
}

// target resolves a column name: one of the operation's columns (or export's
// aliases), else a custom field of the catalog.
func (im *Importer) target(name string) (*target, error) {
	if a, ok := im.attrs[attrKey(name)]; ok {
		if a == attrIgnored {
			return &target{a: a, name: attrKey(name)}, nil
		}
		return &target{a: a, name: im.attrName(a), norm: im.attrNorm(a)}, nil
	}
	i, err := im.cat.lookup(name)
	if err != nil {
		return nil, err
	}
	if im.op == Reply {
		return nil, fmt.Errorf("custom field %s cannot be set by a reply", im.cat.fields[i].Name)
	}
	f, sel, mode, labels := &im.cat.fields[i], im.cat.selects[i], im.mode, im.op == Update
	return &target{a: attrCustom, name: f.Name, field: f, norm: func(v string) (string, error) {
		return normCustom(f, sel, v, mode, labels)
	}}, nil
}

// attrName is an attribute's column name for this operation (its first name).
func (im *Importer) attrName(a attr) string {
	for _, c := range opColumns[im.op] {
		if c.a == a {
			return c.names[0]
		}
	}
	return fmt.Sprintf("attr(%d)", a)
}

func (im *Importer) columnList() string {
	var names []string
	for _, c := range opColumns[im.op] {
		if c.a != attrIgnored {
			names = append(names, c.names[0])
		}
	}
	return strings.Join(names, ", ")
}

func (im *Importer) requiredList() string {
	var names []string
	for _, a := range required[im.op] {
		names = append(names, im.attrName(a))
	}
	return strings.Join(names, ", ")
}

// attrNorm is the check and translation of an attribute's cell.
func (im *Importer) attrNorm(a attr) func(string) (string, error) {
	create := im.op == Create
	switch a {
	case attrID, attrAgentID, attrAgentGroupID:
		return func(v string) (string, error) {
			n, err := normID(v)
			return strconv.FormatInt(n, 10), err
		}
	case attrEmail, attrAssigneeEmail, attrAgentEmail, attrCommentAuthor:
		return normEmail
	case attrCellphone, attrCustomerToken, attrAssigneeName, attrAgentGroupName:
		return func(v string) (string, error) { return strings.TrimSpace(v), nil }
	case attrStatus, attrPriority:
		lookup := LookupStatus
		if a == attrPriority {
			lookup = LookupPriority
		}
		return func(v string) (string, error) {
			n, err := lookup(strings.TrimSpace(v))
			if create {
				return n.Chinese, err
			}
			return n.English, err
		}
	case attrTags:
		return func(v string) (string, error) {
			return normList(v, func(s string) (string, error) { return s, nil })
		}
	case attrFollowerEmails:
		return func(v string) (string, error) { return normList(v, normEmail) }
	case attrFollowerIDs:
		return func(v string) (string, error) {
			return normList(v, func(s string) (string, error) {
				n, err := normID(s)
				return strconv.FormatInt(n, 10), err
			})
		}
	case attrCommentFunction:
		return normCommentFunction
	}
	return func(v string) (string, error) { return v, nil } // free text keeps its spaces and \r\n
}

func normCommentFunction(v string) (string, error) {
	switch normKey(v) {
	case "internal", "内部备注":
		return "internal", nil
	case "external", "公开回复":
		return "external", nil
	}
	return "", fmt.Errorf("%q is not a comment function; expected internal (内部备注) or external (公开回复)", v)
}

// attrKey folds an attribute column name: like normKey, and "_" is ignored
// too, so that "Assignee Email" names assignee_email.
func attrKey(s string) string { return strings.ReplaceAll(normKey(s), "_", "") }

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// value is a binding's text for one row: the cell with its formula escape
// undone, translated by the mapping, else the default when empty; or the
// constant.
func (b *binding) value(cells []string) string {
	if b.hasConst {
		return b.constant
	}
	var v string
	if b.col >= 0 && b.col < len(cells) {
		v = UnescapeFormula(cells[b.col])
	}
	if b.values != nil {
		if to, ok := b.values[normKey(v)]; ok {
			v = to
		}
	}
	if b.hasDef && blank(v) {
		v = b.def
	}
	return v
}

// Operation builds the API write for one row. Its error joins one
// *pipeline.RowError per problem in the row, each naming the row, the column
// and what was expected.
func (im *Importer) Operation(rec pipeline.Record) (Operation, error) {
	return im.operation(rec, nil)
}

// operation is Operation with only the bindings for which use is true (all
// when use is nil).
func (im *Importer) operation(rec pipeline.Record, use func(binding int) bool) (Operation, error) {
	op := Operation{Pos: rec.Pos, Kind: im.op}
	switch im.op {
	case Create:
		op.Create = &udesk.NewTicket{}
	case Update:
		op.Update = &udesk.TicketUpdate{}
	case Reply:
		op.Reply = &udesk.Reply{}
	}
	var (
		errs        []error
		set, failed uint32 // bits by attr
	)
	for i := range im.bindings {
		b := &im.bindings[i]
		v := b.value(rec.Cells)
		if blank(v) || (use != nil && !use(i)) {
			continue
		}
		s, err := b.t.norm(v)
		if err != nil {
			errs = append(errs, &pipeline.RowError{Pos: rec.Pos, Column: b.header, Err: err})
			failed |= 1 << b.t.a
			continue
		}
		if s == "" {
			continue
		}
		set |= 1 << b.t.a
		im.apply(&op, b.t, s)
	}
	rowErr := func(a attr, format string, args ...any) {
		col := ""
		if a != attrIgnored {
			col = im.bindings[im.byAttr[a]].header
		}
		errs = append(errs, &pipeline.RowError{Pos: rec.Pos, Column: col, Err: fmt.Errorf(format, args...)})
	}
	for _, a := range required[im.op] {
		if (set|failed)&(1<<a) == 0 {
			rowErr(a, "is empty; %s needs %s", im.op, im.requiredList())
		}
	}
	if im.op == Update {
		for _, p := range exclusive {
			if set&(1<<p[0]) != 0 && set&(1<<p[1]) != 0 {
				rowErr(attrIgnored, "columns %q and %q are both filled; the API takes one of them",
					im.bindings[im.byAttr[p[0]]].header, im.bindings[im.byAttr[p[1]]].header)
			}
		}
		var missing []string
		some := false
		for _, a := range commentAttrs {
			if (set|failed)&(1<<a) != 0 {
				some = true
			} else {
				missing = append(missing, im.attrName(a))
			}
		}
		if some && len(missing) > 0 {
			rowErr(attrIgnored, "a comment needs comment_function, comment_author_email and comment_body; %s empty", strings.Join(missing, ", "))
		}
		if set|failed == 1<<attrID {
			rowErr(attrIgnored, "nothing to update: every column but id is empty")
		}
	}
	if len(errs) > 0 {
		return op, errors.Join(errs...)
	}
	return op, nil
}

// apply stores a checked value in the operation's body.
func (im *Importer) apply(op *Operation, t *target, s string) {
	id := func() int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	switch im.op {
	case Create:
		c := op.Create
		switch t.a {
		case attrSubject:
			c.Subject = s
		case attrContent:
			c.Content = s
		case attrEmail:
			c.Email = s
		case attrCellphone:
			c.Cellphone = s
		case attrCustomerToken:
			c.CustomerToken = s
		case attrStatus:
			c.Status = s
		case attrPriority:
			c.Priority = s
		case attrAssigneeName, attrAssigneeEmail:
			if c.Assignee == nil {
				c.Assignee = &udesk.Assignee{}
			}
			if t.a == attrAssigneeName {
				c.Assignee.Name = s
			} else {
				c.Assignee.Email = s
			}
		case attrAgentGroupName:
			c.AgentGroupName = s
		case attrCustom:
			if c.TicketField == nil {
				c.TicketField = map[string]string{}
			}
			c.TicketField[t.name] = s
		}
	case Update:
		u := op.Update
		switch t.a {
		case attrID:
			op.ID = id()
		case attrSubject:
			u.Subject = s
		case attrContent:
			u.Content = s
		case attrStatus:
			u.Status = s
		case attrPriority:
			u.Priority = s
		case attrAgentEmail:
			u.AgentEmail = s
		case attrAgentID:
			u.AgentID = id()
		case attrAgentGroupName:
			u.AgentGroupName = s
		case attrAgentGroupID:
			u.AgentGroupID = id()
		case attrTags:
			u.Tags = s
		case attrFollowerEmails:
			u.FollowerEmails = s
		case attrFollowerIDs:
			u.FollowerIDs = s
		case attrCommentFunction, attrCommentAuthor, attrCommentBody:
			if u.Comment == nil {
				u.Comment = &udesk.Comment{}
			}
			switch t.a {
			case attrCommentFunction:
				u.Comment.Function = s
			case attrCommentAuthor:
				u.Comment.AuthorEmail = s
			default:
				u.Comment.Body = s
			}
		case attrCustom:
			if u.CustomFields == nil {
				u.CustomFields = map[string]string{}
			}
			u.CustomFields[t.name] = s
		}
	case Reply:
		r := op.Reply
		switch t.a {
		case attrID:
			op.ID = id()
			r.ID = op.ID
		case attrReplyContent:
			r.ReplyContent = s
		case attrEmail:
			r.Email = s
		}
	}
}
