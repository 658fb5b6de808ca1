package ingest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// rollbackInfo is what a run's rollback.csv holds: id and the previous
// value of each field the run changes, written before the first update is
// sent, so that `import --update -i rollback.csv` undoes the run.
type rollbackInfo struct {
	path    string // "" when the run changes nothing
	tickets int
	fields  int
	empty   int // fields that were empty: an update cannot clear them again
}

// writeRollback writes rollback.csv into dir: a column per changed field
// (the update's column name or the custom field's field_name), a row per
// ticket; a cell is empty where the run leaves the field alone, or where it
// was empty before (the API cannot clear a field: counted in info.empty).
func writeRollback(dir string, changes []mapping.Change, info *rollbackInfo) error {
	if len(changes) == 0 {
		return nil
	}
	col := map[string]int{}
	header := []string{"id"}
	row := map[int64]int{}
	var ids []int64
	for _, c := range changes {
		if _, ok := col[c.Field]; !ok {
			col[c.Field] = len(header)
			header = append(header, c.Field)
		}
		if _, ok := row[c.ID]; !ok {
			row[c.ID] = len(ids)
			ids = append(ids, c.ID)
		}
	}
	recs := make([][]string, len(ids))
	for i, id := range ids {
		recs[i] = make([]string, len(header))
		recs[i][0] = strconv.FormatInt(id, 10)
	}
	for _, c := range changes {
		recs[row[c.ID]][col[c.Field]] = mapping.EscapeFormula(c.Old)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	*info = rollbackInfo{path: filepath.Join(dir, "rollback.csv"), tickets: len(recs), fields: len(changes), empty: emptyBefore(changes)}
	return writeCSVFile(info.path, append([][]string{header}, recs...))
}

// emptyBefore counts the changed fields that were empty before the change.
func emptyBefore(changes []mapping.Change) int {
	n := 0
	for _, c := range changes {
		if c.Old == "" {
			n++
		}
	}
	return n
}

func (rb rollbackInfo) note(s *pipeline.Report) {
	if rb.path == "" {
		return
	}
	s.Note("%s holds the previous value of the %d fields this import changes on %d tickets: import it with --update to undo them", rb.path, rb.fields, rb.tickets)
	if rb.empty > 0 {
		s.Note("%d changed fields were empty before and cannot be undone (the API cannot clear a field); nor can a create", rb.empty)
	}
}
