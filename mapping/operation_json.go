package mapping

import (
	"encoding/json"

	"github.com/udesk-etl/udesk-etl/udesk"
)

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
