package mapping

import "github.com/udesk-etl/udesk-etl/pipeline"

// Unchanged reports whether rec holds its original row's text in every
// column that Operation compares, so that it needs no write. It changes
// nothing (a row is noted as seen only by Operation and Saw) and may run
// beside them, for a look ahead at the work left. A value written another
// way (a date a spreadsheet reformatted) counts as changed here, where
// Operation may find it the same.
func (d *Differ) Unchanged(rec pipeline.Record) bool {
	idText := UnescapeFormula(cell(rec.Cells, d.idCol))
	if blank(idText) {
		return false
	}
	id, err := normID(idText)
	if err != nil {
		return false
	}
	orig, ok := d.orig.rows[id]
	if !ok {
		return false
	}
	for i := range d.header {
		if i == d.idCol || d.bindOf[i] < 0 && d.origCol[i] < 0 {
			continue
		}
		if !sameText(UnescapeFormula(cell(orig, d.origCol[i])), UnescapeFormula(cell(rec.Cells, i))) {
			return false
		}
	}
	return true
}
