package mapping

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// Convert reads every record of r and hands the operation im builds from it
// to emit, in file order. A row that cannot be converted (a *pipeline.RowError
// from the reader, or im's joined row errors) goes to bad with its record, and
// the run goes on. Convert returns nil at the end of r, ctx's error when ctx
// ends, and the first error of r that is not a row error, or of emit.
func Convert(ctx context.Context, r pipeline.RecordReader, im *Importer, emit func(Operation) error, bad func(pipeline.Record, error)) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		var rowErr *pipeline.RowError
		if errors.As(err, &rowErr) {
			bad(rec, err)
			continue
		}
		if err != nil {
			return err
		}
		op, err := im.Operation(rec)
		if err != nil {
			bad(rec, err)
			continue
		}
		if err := emit(op); err != nil {
			return err
		}
	}
}

// MarshalJSON writes an operation as what `udesk-etl convert` and a dry run
// show: the input position, the operation, the target id and the request body
// exactly as the API would receive it.
func (op Operation) MarshalJSON() ([]byte, error) {
	type wire struct {
		File   string       `json:"file,omitempty"`
		Sheet  string       `json:"sheet,omitempty"`
		Row    int          `json:"row"`
		Op     string       `json:"op"`
		ID     int64        `json:"id,omitempty"`
		Ticket any          `json:"ticket,omitempty"`
		Reply  *udesk.Reply `json:"reply,omitempty"`
	}
	w := wire{File: op.Pos.File, Sheet: op.Pos.Sheet, Row: op.Pos.Row, Op: op.Kind.String(), ID: op.ID, Reply: op.Reply}
	switch {
	case op.Create != nil:
		w.Ticket = op.Create
	case op.Update != nil:
		w.Ticket = op.Update
	}
	return json.Marshal(w)
}
