package mapping

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// MetaCatalog is the Schema.Meta key that holds the field catalog as JSON in
// udesk.WriteFields form, so that a file records the catalog it was written with.
const MetaCatalog = "udesk.catalog"

// Header modes (ExportOptions.Headers).
const (
	HeadersLabels = "labels" // custom field columns named by field_label (default)
	HeadersNames  = "names"  // custom field columns named by field_name
)

// ExportOptions choose how an export names and fills its columns.
type ExportOptions struct {
	// Headers is HeadersLabels ("" too) or HeadersNames. With labels, a
	// custom field whose label is empty, shared with another field, or equal
	// to a ticket attribute's name or another field's field_name is headed by
	// its field_name instead, so that every header names one column.
	Headers string
	// SelectValues is SelectLabels ("" too) or SelectIndexes: what select
	// columns hold (checkbox columns hold a list of either).
	SelectValues string
}

// Exporter turns tickets in wire form into typed rows. It is read-only after
// NewExporter and safe for concurrent use.
type Exporter struct {
	schema pipeline.Schema
	conv   []converter
}

// converter gives one column's value of a ticket, or its wire text when the
// value does not fit the column's kind (misfit true).
type converter func(t *udesk.Ticket) (v any, raw string, misfit bool)

// The ticket attribute columns of an export, in order. ReadOnly marks what
// the update endpoint cannot change.
var attrColumns = []struct {
	name     string
	kind     pipeline.Kind
	readOnly bool
	conv     converter
}{
	{"id", pipeline.Int64, true, func(t *udesk.Ticket) (any, string, bool) { return t.ID, "", false }},
	{"subject", pipeline.String, false, func(t *udesk.Ticket) (any, string, bool) { return str(t.Subject) }},
	{"content", pipeline.String, false, func(t *udesk.Ticket) (any, string, bool) { return str(t.Content) }},
	{"content_type", pipeline.String, true, func(t *udesk.Ticket) (any, string, bool) { return known(t.ContentType) }},
	{"platform", pipeline.String, true, func(t *udesk.Ticket) (any, string, bool) { return known(t.Platform) }},
	{"priority", pipeline.String, false, func(t *udesk.Ticket) (any, string, bool) { return known(t.Priority) }},
	{"status", pipeline.String, false, func(t *udesk.Ticket) (any, string, bool) { return known(t.Status) }},
	{"user", pipeline.String, true, func(t *udesk.Ticket) (any, string, bool) { return str(t.User) }},
	{"user_email", pipeline.String, true, func(t *udesk.Ticket) (any, string, bool) { return str(t.UserEmail) }},
	{"user_cellphone", pipeline.String, true, func(t *udesk.Ticket) (any, string, bool) { return str(t.UserCellphone) }},
	{"assignee", pipeline.String, true, func(t *udesk.Ticket) (any, string, bool) { return str(t.Assignee) }},
	{"assignee_id", pipeline.Int64, false, func(t *udesk.Ticket) (any, string, bool) { return optID(t.AssigneeID) }},
	{"user_group_id", pipeline.Int64, false, func(t *udesk.Ticket) (any, string, bool) { return optID(t.UserGroupID) }},
	{"user_group_name", pipeline.String, false, func(t *udesk.Ticket) (any, string, bool) { return str(t.UserGroupName) }},
	{"solving_at", pipeline.Timestamp, true, func(t *udesk.Ticket) (any, string, bool) { return timestamp(t.SolvingAt) }},
	{"replied_by", pipeline.String, true, func(t *udesk.Ticket) (any, string, bool) { return str(t.RepliedBy) }},
	{"created_at", pipeline.Timestamp, true, func(t *udesk.Ticket) (any, string, bool) { return timestamp(t.CreatedAt) }},
	{"updated_at", pipeline.Timestamp, true, func(t *udesk.Ticket) (any, string, bool) { return timestamp(t.UpdatedAt) }},
}

// NewExporter prepares the columns and per-column converters for a catalog.
func NewExporter(cat *Catalog, opts ExportOptions) *Exporter {
	e := &Exporter{schema: pipeline.Schema{Meta: map[string]string{}}}
	var buf bytes.Buffer
	if err := udesk.WriteFields(&buf, cat.Fields()); err == nil {
		e.schema.Meta[MetaCatalog] = buf.String()
	}
	taken := make(map[string]int) // normKey of attribute names and field_names -> uses
	for _, a := range attrColumns {
		col := pipeline.Column{Name: a.name, Field: a.name, Kind: a.kind, ReadOnly: a.readOnly}
		switch a.name {
		case "status":
			col.Options = englishNames(Statuses)
		case "priority":
			col.Options = chineseNames(Priorities)
		}
		e.schema.Columns = append(e.schema.Columns, col)
		e.conv = append(e.conv, a.conv)
		taken[a.name]++
	}
	labels := make(map[string]int)
	for i := range cat.fields {
		taken[normKey(cat.fields[i].Name)]++
		labels[normKey(cat.fields[i].Label)]++
	}
	for i := range cat.fields {
		f := &cat.fields[i]
		col := pipeline.Column{Name: f.Name, Field: f.Name}
		if k := normKey(f.Label); opts.Headers != HeadersNames && k != "" && labels[k] == 1 &&
			(taken[k] == 0 || k == normKey(f.Name)) {
			col.Name = f.Label
		}
		col.Kind, col.Options = customKind(f, cat.selects[i], opts.SelectValues)
		e.schema.Columns = append(e.schema.Columns, col)
		e.conv = append(e.conv, customConverter(f.Name, col.Kind, cat.selects[i], opts.SelectValues == SelectIndexes))
	}
	return e
}

// Schema returns the export's columns: the ticket attributes, then the custom
// fields in catalog order. Callers must not modify it.
func (e *Exporter) Schema() pipeline.Schema { return e.schema }

// Row turns one ticket into a row aligned with Schema().Columns. It never
// fails: a value that does not fit its column is nil in Values and kept
// verbatim in Raw.
func (e *Exporter) Row(t *udesk.Ticket) pipeline.Row {
	r := pipeline.Row{Values: make([]any, len(e.conv))}
	for i, c := range e.conv {
		v, raw, misfit := c(t)
		if misfit {
			if r.Raw == nil {
				r.Raw = make(map[int]string, 1)
			}
			r.Raw[i] = raw
			continue
		}
		r.Values[i] = v
	}
	return r
}

func customKind(f *udesk.Field, sel *selectIndex, selectMode string) (pipeline.Kind, []string) {
	options := func() []string {
		if sel == nil {
			return nil
		}
		if selectMode == SelectIndexes {
			return sel.indexes
		}
		return sel.labels
	}
	switch f.ContentType {
	case udesk.TypeDate:
		return pipeline.Date, nil
	case udesk.TypeTime:
		return pipeline.TimeOfDay, nil
	case udesk.TypeDatetime:
		return pipeline.Timestamp, nil
	case udesk.TypeNumber:
		return pipeline.Int64, nil
	case udesk.TypeNumeric:
		return pipeline.Float64, nil
	case udesk.TypeCheckbox:
		return pipeline.StringList, options()
	case udesk.TypeDroplist, udesk.TypeRadio:
		return pipeline.String, options()
	}
	return pipeline.String, nil
}

func customConverter(name string, kind pipeline.Kind, sel *selectIndex, indexes bool) converter {
	var parse func(string) (any, bool)
	switch {
	case kind == pipeline.Date:
		parse = exportDate
	case kind == pipeline.TimeOfDay:
		parse = exportTime
	case kind == pipeline.Timestamp:
		parse = exportDatetime
	case kind == pipeline.Int64:
		parse = func(s string) (any, bool) {
			n, err := strconv.ParseInt(s, 10, 64)
			return n, err == nil
		}
	case kind == pipeline.Float64:
		parse = func(s string) (any, bool) {
			f, err := strconv.ParseFloat(s, 64)
			return f, err == nil && plainNumber(s)
		}
	case kind == pipeline.StringList:
		parse = func(s string) (any, bool) {
			if indexes {
				return checkboxIndexes(sel, s)
			}
			l, ok := sel.labelsOf(s)
			return l, ok
		}
	case sel != nil:
		// The values are boxed once here, not once per row.
		boxed := make([]any, len(sel.labels))
		for i := range boxed {
			if indexes {
				boxed[i] = sel.indexes[i]
			} else {
				boxed[i] = sel.labels[i]
			}
		}
		parse = func(s string) (any, bool) {
			i, ok := sel.byIndex[s]
			if !ok {
				return nil, false
			}
			return boxed[i], true
		}
	default:
		parse = func(s string) (any, bool) { return s, true }
	}
	return func(t *udesk.Ticket) (any, string, bool) {
		s := t.CustomFields[name]
		if s == "" {
			return nil, "", false
		}
		v, ok := parse(s)
		if !ok {
			return nil, s, true
		}
		return v, "", false
	}
}

func checkboxIndexes(sel *selectIndex, s string) (any, bool) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if _, ok := sel.byIndex[part]; !ok {
			return nil, false
		}
		out = append(out, part)
	}
	return out, true
}

// knownValues are the few values status, priority, platform and content_type
// take, boxed once so that a row does not allocate for them.
var knownValues = func() map[string]any {
	m := map[string]any{"text": "text", "html": "html"}
	for _, names := range [][]ValueName{Statuses, Priorities, Platforms} {
		for _, n := range names {
			for _, s := range []string{n.Chinese, n.English} {
				if s != "" {
					m[s] = s
				}
			}
		}
	}
	return m
}()

// known is str for a column of few distinct values.
func known(s string) (any, string, bool) {
	if v, ok := knownValues[s]; ok {
		return v, "", false
	}
	return str(s)
}

func str(s string) (any, string, bool) {
	if s == "" {
		return nil, "", false
	}
	return s, "", false
}

// optID is an id that JSON null (0) leaves unset.
func optID(id int64) (any, string, bool) {
	if id == 0 {
		return nil, "", false
	}
	return id, "", false
}

// timestamp reads the API's "2016-07-28 20:44:08 +0800" (fast path) or any
// spelling parseCivil knows (no offset: APIZone's).
func timestamp(s string) (any, string, bool) {
	if s == "" {
		return nil, "", false
	}
	if len(s) == 25 && s[10] == ' ' && s[19] == ' ' && s[20] == '+' && s[21:] == "0800" {
		if t, ok := fastClock(s[:19], APIZone); ok {
			return t, "", false
		}
	}
	if t, ok := looseTime(s); ok {
		return t, "", false
	}
	return nil, s, true
}

// exportDatetime reads a datetime field ("2017-05-03 14:44", APIZone).
func exportDatetime(s string) (any, bool) {
	if len(s) == 16 && s[10] == ' ' {
		if t, ok := fastClock(s+":00", APIZone); ok {
			return t, true
		}
	}
	t, ok := looseTime(s)
	return t, ok
}

func looseTime(s string) (time.Time, bool) {
	c, ok := parseCivil(s)
	if !ok {
		return time.Time{}, false
	}
	loc := APIZone
	if c.hasZone && c.off != 8*3600 {
		loc = time.FixedZone("", c.off)
	}
	return time.Date(c.y, time.Month(c.mo), c.d, c.h, c.mi, c.s, 0, loc), true
}

// exportDate reads a date field ("2016-08-11") as midnight UTC.
func exportDate(s string) (any, bool) {
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		y, ok1 := digits(s[0:4])
		mo, ok2 := digits(s[5:7])
		d, ok3 := digits(s[8:10])
		if ok1 && ok2 && ok3 && validDate(y, mo, d) {
			return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC), true
		}
	}
	c, ok := parseCivil(s)
	if !ok || c.h != 0 || c.mi != 0 || c.s != 0 || !c.fracZero {
		return nil, false
	}
	return time.Date(c.y, time.Month(c.mo), c.d, 0, 0, 0, 0, time.UTC), true
}

// exportTime reads a time field as "15:04:05" ("14:44" gains ":00").
func exportTime(s string) (any, bool) {
	if len(s) == 8 && s[2] == ':' && s[5] == ':' {
		h, ok1 := digits(s[0:2])
		m, ok2 := digits(s[3:5])
		sec, ok3 := digits(s[6:8])
		if ok1 && ok2 && ok3 && h < 24 && m < 60 && sec < 60 {
			return s, true
		}
	}
	if strings.ContainsRune(s, ':') {
		if v, err := normTime(s); err == nil {
			return v, true
		}
	}
	return nil, false
}

// fastClock reads exactly "2006-01-02 15:04:05".
func fastClock(s string, loc *time.Location) (time.Time, bool) {
	if len(s) != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	h, ok4 := digits(s[11:13])
	mi, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || !validDate(y, mo, d) || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, 0, loc), true
}

// plainNumber rejects what ParseFloat reads but a numeric field never holds:
// NaN, Inf, hex floats, underscores.
func plainNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == '-', c == '+', c == 'e', c == 'E':
		default:
			return false
		}
	}
	return true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
