package mapping

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// Upsert: each row of a create file is made true in Udesk, keyed by a text
// custom field that holds the source system's id. A row whose key no ticket
// holds is a create (the key is one of its columns); a row whose key one
// ticket holds is an update of only the fields whose value differs from the
// ticket's, compared as values like the round trip compares cells.

// Upserter maps the rows of an upsert file. It is read-only after
// NewUpserter and safe for concurrent use.
type Upserter struct {
	create *Importer
	// update sets what an update can of the create's columns: subject,
	// content, status, priority and custom fields; its id comes from an
	// extra cell after the row's own.
	update *Importer
	key    *binding // the create's binding of the key field
	idCell int
	exp    *Exporter
}

// NewUpserter checks header as a create file (opts.Op is ignored) that has a
// column for key, a text custom field named by field_name or label. The
// columns a create requires may be missing: only a row whose key no ticket
// holds needs them, and fails without them.
func NewUpserter(cat *Catalog, header []string, key string, opts ImportOptions) (*Upserter, error) {
	opts.Op, opts.lateRequired = Create, true
	create, err := NewImporter(cat, header, opts)
	if err != nil {
		return nil, err
	}
	f, err := cat.Lookup(key)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	if f.ContentType != udesk.TypeText {
		return nil, fmt.Errorf("--key %s is a %s field; the key must be a single-line text field", key, f.ContentType)
	}
	u := &Upserter{create: create, idCell: len(header), exp: NewExporter(cat, ExportOptions{})}
	for i := range create.bindings {
		if b := &create.bindings[i]; b.t.a == attrCustom && b.t.name == f.Name {
			u.key = b
		}
	}
	if u.key == nil || u.key.col < 0 {
		return nil, fmt.Errorf("--key %s: the file has no column for it (columns: %s); each row's key is read from it", key, strings.Join(header, ", "))
	}
	up := &Importer{op: Update, cat: cat, mode: create.mode, attrs: map[string]attr{}}
	for _, c := range opColumns[Update] {
		for _, n := range c.names {
			up.attrs[attrKey(n)] = c.a
		}
	}
	for i := range up.byAttr {
		up.byAttr[i] = -1
	}
	idT, _ := up.target("id")
	up.bindings = append(up.bindings, binding{col: u.idCell, header: "id", t: idT})
	for _, b := range create.bindings {
		switch b.t.a {
		case attrSubject, attrContent, attrStatus, attrPriority, attrCustom:
		default:
			continue // set at create only: the customer, the assignee, the group
		}
		t, err := up.target(b.t.name)
		if err != nil {
			return nil, err
		}
		b.t = t
		up.bindings = append(up.bindings, b)
	}
	for j, b := range up.bindings {
		if b.t.a != attrCustom {
			up.byAttr[b.t.a] = j
		}
	}
	u.update = up
	return u, nil
}

// KeyField is the key's field_name.
func (u *Upserter) KeyField() string { return u.key.t.name }

// Key is a row's key, "" when its cell is empty.
func (u *Upserter) Key(rec pipeline.Record) string {
	return strings.TrimSpace(u.key.value(rec.Cells))
}

// KeyColumn is the header of the key's column.
func (u *Upserter) KeyColumn() string { return u.key.header }

// Create is the row as a create; it sets the key (trimmed).
func (u *Upserter) Create(rec pipeline.Record) (Operation, error) {
	if len(u.create.absent) > 0 {
		return Operation{}, &pipeline.RowError{Pos: rec.Pos, Column: u.create.absent[0], Err: fmt.Errorf(
			"key %q is held by no ticket, and creating one needs %s: the file has no %s column (rows whose key a ticket holds update it without them)",
			u.Key(rec), u.create.requiredList(), strings.Join(u.create.absent, " or "))}
	}
	return u.create.Operation(u.trimKey(rec))
}

// trimKey is rec with its key cell trimmed: a key is compared trimmed (Key),
// so it is written trimmed too, never with the spaces a source file put
// around it.
func (u *Upserter) trimKey(rec pipeline.Record) pipeline.Record {
	c := u.key.col
	if c >= len(rec.Cells) || strings.TrimSpace(rec.Cells[c]) == rec.Cells[c] {
		return rec
	}
	cells := slices.Clone(rec.Cells)
	cells[c] = strings.TrimSpace(cells[c])
	return pipeline.Record{Pos: rec.Pos, Cells: cells}
}

// Update compares a row with the ticket that holds its key and returns the
// update of only the fields whose value differs, with the changes (Old is the
// ticket's value as an export writes it). An empty cell leaves the field as
// it is. ErrUnchanged: nothing differs.
func (u *Upserter) Update(rec pipeline.Record, current *udesk.Ticket) (Operation, []Change, error) {
	cells := make([]string, u.idCell+1)
	copy(cells, u.trimKey(rec).Cells)
	cells[u.idCell] = strconv.FormatInt(current.ID, 10)
	rec = pipeline.Record{Pos: rec.Pos, Cells: cells}
	use, changes := u.update.differing(u.exp, rec, current)
	if len(changes) == 0 {
		return Operation{Pos: rec.Pos, Kind: Update, ID: current.ID}, nil, ErrUnchanged
	}
	op, err := u.update.operation(rec, func(j int) bool { return use[j] })
	return op, changes, err
}

// createOnlyField names the export column that shows each column an upsert
// sets at create only, so that a row can say it differs from its ticket
// there (an assignee given by email is not shown: it is not compared).
var createOnlyField = map[attr]string{
	attrAssigneeName: "assignee", attrAgentGroupName: "user_group_name",
	attrEmail: "user_email", attrCellphone: "user_cellphone",
}

// CreateOnlyDiffers lists the columns of rec that differ from current but
// that an update cannot change (they are set when a ticket is created).
func (u *Upserter) CreateOnlyDiffers(rec pipeline.Record, current *udesk.Ticket) []string {
	var row pipeline.Row
	var cols []string
	for _, b := range u.create.bindings {
		f, ok := createOnlyField[b.t.a]
		v := strings.TrimSpace(b.value(rec.Cells))
		if !ok || v == "" {
			continue
		}
		if row.Values == nil {
			row = u.exp.Row(current)
		}
		now, shown := u.exp.current(row, &target{a: attrCustom, name: f})
		if shown && !strings.EqualFold(strings.TrimSpace(now), v) {
			cols = append(cols, b.header)
		}
	}
	return cols
}

// differing compares an update row with the ticket as it is: which bindings
// set a value that differs from the ticket's (and the id's), and the changes.
func (im *Importer) differing(exp *Exporter, rec pipeline.Record, current *udesk.Ticket) ([]bool, []Change) {
	row := exp.Row(current)
	use := make([]bool, len(im.bindings))
	var changes []Change
	for j := range im.bindings {
		b := &im.bindings[j]
		if b.t.a == attrID {
			use[j] = true
			continue
		}
		v := b.value(rec.Cells)
		now, ok := exp.current(row, b.t)
		if blank(v) || !ok || sameValue(b.t, now, v) {
			continue
		}
		use[j] = true
		changes = append(changes, Change{Row: rec.Pos.Row, ID: current.ID, Column: b.header, Field: b.t.name, Old: now, New: v, bind: j})
	}
	return use, changes
}

// Previous reads what the rows of an update file would overwrite, for a
// rollback: each field a row sets whose value differs from the ticket's.
type Previous struct {
	im  *Importer
	exp *Exporter
}

// NewPrevious prepares the comparison for an update Importer.
func NewPrevious(im *Importer) *Previous {
	return &Previous{im: im, exp: NewExporter(im.cat, ExportOptions{})}
}

// Changes are the fields rec would change on current, with the ticket's
// value as Old. Fields the ticket does not show (tags, followers, a comment)
// are not among them: they cannot be read back.
func (p *Previous) Changes(rec pipeline.Record, current *udesk.Ticket) []Change {
	_, changes := p.im.differing(p.exp, rec, current)
	return changes
}
