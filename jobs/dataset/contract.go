package dataset

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// Contract is _schema.json: the snapshot's columns, keyed on the ticket
// attribute or custom field_name they hold. A column is named once, when its
// field is first seen; it keeps that name when the field is relabelled, and
// stays (empty) when the field is removed, so every run's files share one
// schema that only grows.
type Contract struct {
	Columns []ContractColumn `json:"columns"`
}

// ContractColumn is one column of the contract.
type ContractColumn struct {
	Field       string        `json:"field"`                  // attribute name or field_name
	Name        string        `json:"name"`                   // the column's name in the files
	Type        string        `json:"type"`                   // string, int64, float64, date, timestamp, time, list<string>
	ContentType string        `json:"content_type,omitempty"` // a custom field's type in the catalog
	Labels      []LabelChange `json:"labels,omitempty"`       // a custom field's labels, oldest first
	Options     []Option      `json:"options,omitempty"`      // a select field's options
	Added       string        `json:"added"`                  // the run that first saw the field
	Removed     string        `json:"removed,omitempty"`      // the run whose catalog no longer had it
}

// LabelChange is a label a field had from a run on.
type LabelChange struct {
	Label string `json:"label"`
	Run   string `json:"run"`
}

// Option is a select field's option.
type Option struct {
	Index string `json:"index"`
	Label string `json:"label"`
}

// Drift kinds.
const (
	DriftNew      = "new field"
	DriftRemoved  = "removed field"
	DriftRelabel  = "relabelled field"
	DriftOptions  = "changed options"
	DriftType     = "changed type"
	DriftRestored = "restored field"
)

// runColumn is the column every row of every table carries: its run.
const runColumn = "_run"

// Drift is one difference between the contract and the current catalog.
type Drift struct {
	Kind   string
	Field  string // field_name
	Column string // the contract's column name
	Old    string // label, options or type before
	New    string // and now
}

func (d Drift) String() string {
	s := fmt.Sprintf("%s %s (column %q)", d.Kind, d.Field, d.Column)
	if d.Old != "" || d.New != "" {
		s += fmt.Sprintf(": %q -> %q", d.Old, d.New)
	}
	return s
}

// DriftError fails a run under the freeze policy.
type DriftError struct {
	Drift []Drift
}

func (e *DriftError) Error() string {
	parts := make([]string, len(e.Drift))
	for i, d := range e.Drift {
		parts[i] = d.String()
	}
	return "schema drift (--schema freeze): " + strings.Join(parts, "; ")
}

var kindNames = map[pipeline.Kind]string{
	pipeline.String:     "string",
	pipeline.Int64:      "int64",
	pipeline.Float64:    "float64",
	pipeline.Date:       "date",
	pipeline.Timestamp:  "timestamp",
	pipeline.TimeOfDay:  "time",
	pipeline.StringList: "list<string>",
}

func kindOf(typ string) (pipeline.Kind, bool) {
	for k, n := range kindNames {
		if n == typ {
			return k, true
		}
	}
	return 0, false
}

// reconcile compares the contract (nil for a new dataset) with the export's
// columns for the current catalog, and returns the contract for this run and
// the drift found. New fields get a column named as the export names it
// (headers), or by field_name when that name is taken.
//
// A new field whose column name is taken (by another field, or by the
// tool's own _run and _raw_values) gets its field_name instead (or
// field_name_2...), which a note says.
func reconcile(old *Contract, schema pipeline.Schema, cat *mapping.Catalog, run string) (*Contract, []Drift, []string) {
	c := &Contract{}
	if old != nil {
		c.Columns = slices.Clone(old.Columns)
	}
	byField := map[string]int{}
	names := map[string]bool{runColumn: true, "_raw_values": true}
	for i, col := range c.Columns {
		byField[col.Field] = i
		names[strings.ToLower(col.Name)] = true
	}
	fields := map[string]*udesk.Field{}
	for i := range cat.Fields() {
		fields[cat.Fields()[i].Name] = &cat.Fields()[i]
	}
	var drift []Drift
	var notes []string
	seen := map[string]bool{}
	for _, ec := range schema.Columns {
		seen[ec.Field] = true
		want := ContractColumn{Field: ec.Field, Name: ec.Name, Type: kindNames[ec.Kind], Added: run}
		if f := fields[ec.Field]; f != nil {
			want.ContentType = f.ContentType
			want.Labels = []LabelChange{{Label: f.Label, Run: run}}
			for _, o := range f.Options {
				want.Options = append(want.Options, Option{Index: o.Index, Label: o.Label})
			}
		}
		i, known := byField[ec.Field]
		if !known {
			if taken := want.Name; names[strings.ToLower(taken)] {
				want.Name = freeName(names, ec.Field)
				notes = append(notes, fmt.Sprintf("field %s is stored as column %q: the name %q is taken", ec.Field, want.Name, taken))
			}
			names[strings.ToLower(want.Name)] = true
			c.Columns = append(c.Columns, want)
			if old != nil {
				drift = append(drift, Drift{Kind: DriftNew, Field: ec.Field, Column: want.Name})
			}
			continue
		}
		col := &c.Columns[i]
		d := Drift{Field: col.Field, Column: col.Name}
		if col.Removed != "" {
			drift = append(drift, with(d, DriftRestored, "", ""))
			col.Removed = ""
		}
		if want.Type != col.Type {
			// The column keeps its type so that every run's files agree;
			// values that do not fit it are kept as text (projector).
			drift = append(drift, with(d, DriftType, col.Type, want.Type))
		}
		if f := fields[ec.Field]; f != nil {
			if n := len(col.Labels); n == 0 || col.Labels[n-1].Label != f.Label {
				prev := ""
				if n > 0 {
					prev = col.Labels[n-1].Label
				}
				drift = append(drift, with(d, DriftRelabel, prev, f.Label))
				col.Labels = append(slices.Clip(col.Labels), LabelChange{Label: f.Label, Run: run})
			}
			col.ContentType = f.ContentType
		}
		if !slices.Equal(col.Options, want.Options) {
			drift = append(drift, with(d, DriftOptions, optionsText(col.Options), optionsText(want.Options)))
			col.Options = want.Options
		}
	}
	for i := range c.Columns {
		col := &c.Columns[i]
		if !seen[col.Field] && col.Removed == "" {
			drift = append(drift, Drift{Kind: DriftRemoved, Field: col.Field, Column: col.Name})
			col.Removed = run
		}
	}
	return c, drift, notes
}

func with(d Drift, kind, old, new string) Drift {
	d.Kind, d.Old, d.New = kind, old, new
	return d
}

// freeName is field_name, or field_name_2, _3... when a column has that name.
func freeName(names map[string]bool, field string) string {
	name := field
	for n := 2; names[strings.ToLower(name)]; n++ {
		name = field + "_" + strconv.Itoa(n)
	}
	return name
}

func optionsText(opts []Option) string {
	parts := make([]string, len(opts))
	for i, o := range opts {
		parts[i] = o.Index + ":" + o.Label
	}
	return strings.Join(parts, ", ")
}

// optionRelabels maps, per column of c (by index), the old label of each
// select option that old knew under another label to its label now: a
// ticket whose option was only renamed has not changed.
func optionRelabels(old, c *Contract) map[int]map[string]string {
	if old == nil {
		return nil
	}
	out := map[int]map[string]string{}
	for j, col := range c.Columns {
		i := old.index(col.Field)
		if i < 0 || slices.Equal(old.Columns[i].Options, col.Options) {
			continue
		}
		now := map[string]string{}
		for _, o := range col.Options {
			now[o.Index] = o.Label
		}
		m := map[string]string{}
		for _, o := range old.Columns[i].Options {
			if label, ok := now[o.Index]; ok && label != o.Label {
				m[o.Label] = label
			}
		}
		if len(m) > 0 {
			out[j] = m
		}
	}
	return out
}

// schema is the snapshot's Parquet schema: the contract's columns, then _run.
func (c *Contract) schema() pipeline.Schema {
	s := pipeline.Schema{Meta: map[string]string{}}
	for _, col := range c.Columns {
		k, _ := kindOf(col.Type)
		s.Columns = append(s.Columns, pipeline.Column{Name: col.Name, Field: col.Field, Kind: k})
	}
	s.Columns = append(s.Columns, pipeline.Column{Name: runColumn, Field: runColumn, Kind: pipeline.String})
	return s
}

func (c *Contract) index(field string) int {
	return slices.IndexFunc(c.Columns, func(col ContractColumn) bool { return col.Field == field })
}
