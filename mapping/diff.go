package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// Round-trip editing: an export keeps each row's original cells (see
// Originals); an update import of the edited file compares each row with its
// original (Differ) and sends only the fields that changed.

// Error codes of rows a Differ rejects (EditError.Code).
const (
	CodeReadOnly  = "read_only"     // a column the update cannot change was edited
	CodeCleared   = "cleared"       // a cell was emptied: the API cannot clear a field
	CodeAddedRow  = "added_row"     // a row that was not exported (no id, or an id not exported)
	CodeDuplicate = "duplicate_row" // a second row with the same id
	CodeConflict  = "conflict"      // the ticket changed in Udesk since the export
)

// ErrUnchanged is returned by Differ.Operation for a row equal to its
// original: there is nothing to send.
var ErrUnchanged = errors.New("unchanged since the export")

// EditError is a round-trip problem with one row; Code says which.
type EditError struct {
	Code string
	Err  error
}

func (e *EditError) Error() string { return e.Err.Error() }
func (e *EditError) Unwrap() error { return e.Err }

// ValueText is a value as text, the one rendering every format's text
// follows: dates 2006-01-02, timestamps in TimestampLayout (in the value's
// own offset), lists joined with ",", floats in their shortest exact form,
// text as it is. nil is "".
func ValueText(k pipeline.Kind, v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case time.Time:
		if k == pipeline.Date {
			return v.Format(DateLayout)
		}
		return v.Format(TimestampLayout)
	case []string:
		return strings.Join(v, ",")
	}
	return ""
}

// CellText is a value in the text form the CSV writer writes and the file
// readers give back: ValueText, text and lists with their formula escape
// (EscapeFormula).
func CellText(k pipeline.Kind, v any) string {
	switch v.(type) {
	case string, []string:
		return EscapeFormula(ValueText(k, v))
	}
	return ValueText(k, v)
}

// Originals are the rows of an exported file as they were written: its
// header and each row's cells in CellText form, by ticket id.
type Originals struct {
	header []string
	idCol  int
	rows   map[int64][]string
	order  []int64
}

// NewOriginals starts an empty set for a header, which must have an id column.
func NewOriginals(header []string) (*Originals, error) {
	o := &Originals{header: header, idCol: -1, rows: map[int64][]string{}}
	for i, h := range header {
		if normKey(h) == "id" {
			o.idCol = i
		}
	}
	if o.idCol < 0 {
		return nil, fmt.Errorf("the original rows have no id column (header: %s)", strings.Join(header, ", "))
	}
	return o, nil
}

// Add records one original row; its id must be new.
func (o *Originals) Add(rec pipeline.Record) error {
	var s string
	if o.idCol < len(rec.Cells) {
		s = rec.Cells[o.idCol]
	}
	id, err := normID(s)
	if err != nil {
		return fmt.Errorf("%s: original row: %v", rec.Pos, err)
	}
	if _, dup := o.rows[id]; dup {
		return fmt.Errorf("%s: original row: ticket %d is there twice", rec.Pos, id)
	}
	o.rows[id] = rec.Cells
	o.order = append(o.order, id)
	return nil
}

// Len is the number of original rows.
func (o *Originals) Len() int { return len(o.order) }

// Change is one field an edited row changed.
type Change struct {
	Row    int    // the edited file's row
	ID     int64  // the ticket
	Column string // the column's header in the edited file
	Field  string // what it sets: an update column name or a custom field's field_name
	Old    string // the original cell, formula escape undone
	New    string // the edited cell, formula escape undone
	bind   int
}

// Differ compares the rows of an edited file with their originals. It is
// safe for concurrent use.
type Differ struct {
	im      *Importer
	orig    *Originals
	header  []string
	idCol   int   // in the edited header
	origCol []int // edited column -> original column, -1 when the original has none
	bindOf  []int // edited column -> binding index, -1 when the update does not use the column
	exp     *Exporter
	mu      sync.Mutex
	seen    map[int64]int // id -> row
}

// exportField names the export column an update column reads back as.
var exportField = map[attr]string{
	attrSubject: "subject", attrContent: "content", attrStatus: "status", attrPriority: "priority",
	attrAgentID: "assignee_id", attrAgentGroupID: "user_group_id",
}

// NewDiffer prepares the comparison of an edited file (header, read by im, an
// update Importer without a mapping file) with its originals. Columns are
// matched by name; the edited file may drop, add or reorder columns.
func NewDiffer(im *Importer, header []string, orig *Originals) (*Differ, error) {
	if im.op != Update {
		return nil, fmt.Errorf("comparing with the originals needs an update import, not %s", im.op)
	}
	for _, b := range im.bindings {
		if b.col < 0 || b.values != nil || b.hasDef || b.hasConst {
			return nil, fmt.Errorf("a file exported for editing is compared with its originals column by column; a mapping file does not apply")
		}
	}
	d := &Differ{im: im, orig: orig, header: header, idCol: -1, seen: map[int64]int{},
		exp: NewExporter(im.cat, ExportOptions{})}
	byName := map[string]int{}
	for i, h := range orig.header {
		byName[normKey(h)] = i
	}
	d.origCol = make([]int, len(header))
	d.bindOf = make([]int, len(header))
	for i, h := range header {
		d.origCol[i], d.bindOf[i] = -1, -1
		if j, ok := byName[normKey(h)]; ok {
			d.origCol[i] = j
		}
	}
	for j, b := range im.bindings {
		d.bindOf[b.col] = j
		if b.t.a == attrID {
			d.idCol = b.col
		}
	}
	if d.idCol < 0 {
		return nil, fmt.Errorf("no id column: rows are matched with their originals by id")
	}
	return d, nil
}

func cell(cells []string, i int) string {
	if i >= 0 && i < len(cells) {
		return cells[i]
	}
	return ""
}

// Operation compares one edited row with its original (matched by id) and
// returns the update of only the changed fields, with the changes.
// ErrUnchanged: nothing changed. Errors are joined *pipeline.RowError, each
// wrapping an *EditError when the problem is the edit itself: an edit to a
// column the update cannot change, an emptied cell, a row that was not
// exported, a ticket that is twice in the file.
func (d *Differ) Operation(rec pipeline.Record) (Operation, []Change, error) {
	rowErr := func(col, code, format string, args ...any) error {
		return &pipeline.RowError{Pos: rec.Pos, Column: col, Err: &EditError{Code: code, Err: fmt.Errorf(format, args...)}}
	}
	idText := UnescapeFormula(cell(rec.Cells, d.idCol))
	if blank(idText) {
		return Operation{}, nil, rowErr(d.header[d.idCol], CodeAddedRow,
			"no id: a row added to the sheet is not created by --update (create only the added rows with import --create --new-rows-only on this file)")
	}
	id, err := normID(idText)
	if err != nil {
		return Operation{}, nil, &pipeline.RowError{Pos: rec.Pos, Column: d.header[d.idCol], Err: err}
	}
	orig, ok := d.orig.rows[id]
	if !ok {
		return Operation{}, nil, rowErr(d.header[d.idCol], CodeAddedRow,
			"ticket %d was not in the export: a row added to the sheet is not acted on", id)
	}
	d.mu.Lock()
	prev, dup := d.seen[id]
	if dup && prev == rec.Pos.Row {
		dup = false // noted by Saw
	}
	if !dup {
		d.seen[id] = rec.Pos.Row
	}
	d.mu.Unlock()
	if dup {
		return Operation{}, nil, rowErr(d.header[d.idCol], CodeDuplicate, "ticket %d is also in row %d; keep one row per ticket", id, prev)
	}

	var (
		errs    []error
		changes []Change
	)
	kept := make([]string, len(rec.Cells)) // the edited cells of changed columns only
	kept[d.idCol] = rec.Cells[d.idCol]
	for i, h := range d.header {
		if i == d.idCol {
			continue
		}
		vo := UnescapeFormula(cell(orig, d.origCol[i]))
		ve := UnescapeFormula(cell(rec.Cells, i))
		j := d.bindOf[i]
		if j < 0 {
			if d.origCol[i] >= 0 && !sameText(vo, ve) {
				errs = append(errs, rowErr(h, CodeReadOnly, "is read-only (%s): %s -> %s; restore the original value",
					readOnlyWhy(h), quoteCell(vo), quoteCell(ve)))
			}
			continue
		}
		t := d.im.bindings[j].t
		if sameValue(t, vo, ve) {
			continue
		}
		switch {
		case blank(ve):
			errs = append(errs, rowErr(h, CodeCleared, "was %s and is now empty, but an update cannot clear a field (an empty cell leaves it as it is); restore the value or write another",
				quoteCell(vo)))
			continue
		case isTruncated(vo):
			errs = append(errs, rowErr(h, CodeReadOnly, "held a text too long for a spreadsheet cell, cut to fit; it cannot be edited in the sheet (restore the cell)"))
			continue
		}
		kept[i] = rec.Cells[i]
		changes = append(changes, Change{Row: rec.Pos.Row, ID: id, Column: h, Field: t.name, Old: vo, New: ve, bind: j})
	}
	if len(errs) > 0 {
		return Operation{}, changes, errors.Join(errs...)
	}
	if len(changes) == 0 {
		return Operation{Pos: rec.Pos, Kind: Update, ID: id}, nil, ErrUnchanged
	}
	op, err := d.im.Operation(pipeline.Record{Pos: rec.Pos, Cells: kept})
	return op, changes, err
}

// readOnlyWhy says why a column cannot be changed by an update.
func readOnlyWhy(header string) string {
	switch normKey(header) {
	case "assignee":
		return "to reassign the ticket, change assignee_id"
	case "user_group_name":
		return "to move the ticket to another group, change user_group_id"
	}
	return "Udesk does not let an update change it"
}

// Saw notes that the edited file has a row for rec's ticket, for a row that
// is not compared (an import skips rows an earlier run sent): Missing does
// not list it.
func (d *Differ) Saw(rec pipeline.Record) {
	id, err := normID(UnescapeFormula(cell(rec.Cells, d.idCol)))
	if err != nil {
		return
	}
	d.mu.Lock()
	if _, ok := d.seen[id]; !ok {
		d.seen[id] = rec.Pos.Row
	}
	d.mu.Unlock()
}

// Missing lists, in export order, the exported tickets that no row of the
// edited file named: rows deleted from the sheet (nothing is done to them).
func (d *Differ) Missing() []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []int64
	for _, id := range d.orig.order {
		if _, ok := d.seen[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// Conflicts compares the fields of changes with the ticket as Udesk has it
// now. A field whose current value is neither its original nor the wanted
// one changed in Udesk since the export: the error (an *EditError with
// CodeConflict) names each such field with the three values. Fields that
// the ticket does not show (tags, followers) are not checked.
func (d *Differ) Conflicts(pos pipeline.Position, changes []Change, current *udesk.Ticket) error {
	row := d.exp.Row(current)
	var parts []string
	for _, c := range changes {
		t := d.im.bindings[c.bind].t
		now, ok := d.exp.current(row, t)
		if !ok {
			continue
		}
		if sameValue(t, c.Old, now) || sameValue(t, c.New, now) {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s was %s at the export, is now %s in Udesk, the sheet wants %s",
			c.Column, quoteCell(c.Old), quoteCell(now), quoteCell(c.New)))
	}
	if len(parts) == 0 {
		return nil
	}
	return &pipeline.RowError{Pos: pos, Err: &EditError{Code: CodeConflict,
		Err: fmt.Errorf("ticket %d changed in Udesk since the export: %s; the ticket was left alone", current.ID, strings.Join(parts, "; "))}}
}

// current is the cell text of an exported row's value for an update target,
// as an export writes it; false when the ticket does not show the target.
func (e *Exporter) current(row pipeline.Row, t *target) (string, bool) {
	f := t.name
	if t.a != attrCustom {
		f = exportField[t.a]
	}
	k := slices.IndexFunc(e.schema.Columns, func(c pipeline.Column) bool { return c.Field == f })
	if f == "" || k < 0 {
		return "", false
	}
	if now, isRaw := row.Raw[k]; isRaw {
		return now, true
	}
	return UnescapeFormula(CellText(e.schema.Columns[k].Kind, row.Values[k])), true
}

// sameValue reports whether two cells of a column mean the same to the API:
// equal once checked and translated (a date cell and its text, 13 and 13.0,
// a Chinese and an English priority), or equal as written when the
// original does not translate.
func sameValue(t *target, a, b string) bool {
	if a == b || (blank(a) && blank(b)) {
		return true
	}
	if blank(a) || blank(b) {
		return false
	}
	ca, errA := t.norm(a)
	cb, errB := t.norm(b)
	if errA != nil || errB != nil {
		return false
	}
	if ca == cb {
		return true
	}
	if t.field != nil && t.field.ContentType == udesk.TypeNumeric {
		fa, e1 := strconv.ParseFloat(ca, 64)
		fb, e2 := strconv.ParseFloat(cb, 64)
		return e1 == nil && e2 == nil && fa == fb
	}
	return false
}

// sameText compares cells of columns an update does not use, as the file
// readers give them: a timestamp with or without its offset (a spreadsheet
// date cell has none; APIZone's is meant), or to the minute only (Excel saves
// a CSV's times as it shows them), a number with or without ".0".
func sameText(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == b {
		return true
	}
	if a == "" || b == "" {
		return false
	}
	if ta, ok := looseTime(a); ok {
		tb, ok := looseTime(b)
		if ok && !ta.Equal(tb) && strings.Count(b, ":") == 1 {
			ta = ta.Truncate(time.Minute)
		}
		return ok && ta.Equal(tb)
	}
	fa, e1 := strconv.ParseFloat(a, 64)
	fb, e2 := strconv.ParseFloat(b, 64)
	return e1 == nil && e2 == nil && fa == fb && plainNumber(a) && plainNumber(b)
}

// quoteCell shows a cell in a message: as it is when plain, quoted when
// empty or holding spaces at its ends or control characters.
func quoteCell(s string) string {
	if s == "" || strings.TrimSpace(s) != s || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' }) {
		return strconv.Quote(s)
	}
	return s
}

// isTruncated reports a cell the XLSX writer cut to fit (TruncatedMarker).
func isTruncated(cell string) bool {
	_, _, ok := Truncated(cell)
	return ok
}
