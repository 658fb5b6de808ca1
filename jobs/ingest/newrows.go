package ingest

// A create from a file that holds ticket ids: an exported workbook imported
// with --create would make a second ticket of every exported row. When the
// ids are this tenant's the import is refused, unless only the rows without
// an id are asked for (Options.NewRowsOnly): the rows added to the sheet.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// idSample is how many of a file's ids are looked up to tell whether they
// are this tenant's tickets.
const idSample = 3

// idColumn is the index of the file's id column, -1 when it has none.
func idColumn(header []string) int {
	for i, h := range header {
		if strings.EqualFold(strings.TrimSpace(h), "id") {
			return i
		}
	}
	return -1
}

// rowID is a row's id cell: its text, and the ticket id it names (0 when it
// is not a number).
func rowID(cells []string, col int) (string, int64) {
	if col < 0 || col >= len(cells) {
		return "", 0
	}
	s := strings.TrimSpace(mapping.UnescapeFormula(cells[col]))
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		id = 0
	}
	return s, id
}

// checkCreateIDs refuses a create whose rows hold ids of this tenant's
// tickets: it counts the rows with an id and looks up the first few ids.
// Ids no ticket of the tenant has (another system's, another tenant's) are
// imported as today, the id column ignored.
func checkCreateIDs(ctx context.Context, api API, in Input, header []string, mf *mapping.MappingFile, obs pipeline.Observer) error {
	col := idColumn(header)
	if col < 0 || mapsColumn(mf, header[col]) {
		return nil
	}
	g, _, err := openInput(in)
	if err != nil {
		return err
	}
	defer g.Close()
	var rows, withID int
	var sample []int64
	for {
		rec, err := g.next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		var re *pipeline.RowError
		if errors.As(err, &re) {
			continue // rejected as the import reads it
		}
		if err != nil {
			return err
		}
		rows++
		text, id := rowID(rec.Cells, col)
		if text == "" {
			continue
		}
		withID++
		if id > 0 && len(sample) < idSample && !containsID(sample, id) {
			sample = append(sample, id)
		}
	}
	for _, id := range sample {
		_, err := api.Ticket(ctx, id)
		var ue *udesk.Error
		switch {
		case err == nil:
			return pipeline.Configf("%s: %d of %d rows hold a ticket id (column %q), and ticket #%d is this tenant's: --create would make a second ticket of each. "+
				"To create only the rows without an id (those added to an exported sheet), add --new-rows-only; to send the edits of the rows with an id, import with --update; "+
				"if the ids are another tenant's and every row must become a new ticket, delete the id column",
				in.Path, withID, rows, header[col], id)
		case errors.As(err, &ue) && (ue.Code == udesk.StatusTicketNotFound || ue.HTTPStatus == 404):
		default:
			return fmt.Errorf("%s holds ticket ids: looking up #%d to tell whether they are this tenant's: %w", in.Path, id, err)
		}
	}
	if withID > 0 {
		obs.Logf("%s: %d rows hold an id (column %q), but no ticket of this tenant has the ids looked up (%s): the column is ignored and every row is created", in.Path, withID, header[col], idList(sample, idSample))
	}
	return nil
}

// mapsColumn says whether a mapping file says what the column is (renames or
// ignores it): its ids are then another system's, on purpose.
func mapsColumn(mf *mapping.MappingFile, col string) bool {
	if mf == nil {
		return false
	}
	for k := range mf.Columns {
		if strings.EqualFold(strings.TrimSpace(k), strings.TrimSpace(col)) {
			return true
		}
	}
	for _, k := range mf.Ignore {
		if strings.EqualFold(strings.TrimSpace(k), strings.TrimSpace(col)) {
			return true
		}
	}
	return false
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// newRowsOps creates only the rows without an id; a row with one is left
// alone (nothing is sent; success.csv says unchanged, with its id).
type newRowsOps struct {
	rowOps
	col int

	mu      sync.Mutex
	skipped int64
}

func (r *newRowsOps) Operation(ctx context.Context, rec pipeline.Record) (mapping.Operation, error) {
	if text, id := rowID(rec.Cells, r.col); text != "" {
		r.mu.Lock()
		r.skipped++
		r.mu.Unlock()
		return mapping.Operation{Pos: rec.Pos, Kind: mapping.Create, ID: id}, mapping.ErrUnchanged
	}
	return r.rowOps.Operation(ctx, rec)
}

// note puts the rows left alone in the report.
func (r *newRowsOps) note(s *pipeline.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.Skipped += r.skipped
	s.SetFact("rows_with_id", r.skipped)
	if r.skipped > 0 {
		s.Note("--new-rows-only: %s with an id were not created (nothing sent for them; success.csv says unchanged); send their edits with --update", rowsCount(r.skipped))
	}
}
