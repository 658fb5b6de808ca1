package listing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// fetchIDs reads the tickets one request per id. Each id is spooled as a
// one-ticket page (page = its place in the list); an id the API does not
// know is spooled as a failure, so a rerun neither asks again nor forgets it.
func (x *Reader) fetchIDs(ctx context.Context, have map[pageKey]pipeline.SpoolPage) (*Result, error) {
	ids := x.IDs
	res := &Result{StartTotal: len(ids), Total: len(ids), Passes: 1, Stable: true}
	x.addTotal(len(ids))
	var missing []int
	for i := range ids {
		if p, ok := have[pageKey{0, i + 1}]; ok {
			res.Held++
			x.addTickets(p.Size)
		} else {
			missing = append(missing, i+1)
		}
	}
	var mu sync.Mutex
	err := forEach(ctx, x.workers(), missing, func(ctx context.Context, page int) error {
		id := ids[page-1]
		t, err := x.Tickets.Ticket(ctx, id)
		var ue *udesk.Error
		switch {
		case errors.As(err, &ue) && ue.Code == udesk.StatusTicketNotFound:
			body, _ := json.Marshal(IDFailure{ID: id, Error: err.Error()})
			if err := x.Spool.Put(pipeline.SpoolPage{Page: page, Failed: true}, body); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("reading ticket %d: %w", id, err)
		default:
			body, err := udesk.EncodePage([]*udesk.Ticket{t})
			if err != nil {
				return err
			}
			if err := x.Spool.Put(pipeline.SpoolPage{Page: page, Size: 1, Total: 1, TotalPages: 1}, body); err != nil {
				return err
			}
			x.addTickets(1)
		}
		mu.Lock()
		res.Fetched++
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := x.Spool.Sync(); err != nil {
		return nil, err
	}
	pages, err := x.Spool.Pages()
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		if !p.Failed {
			continue
		}
		body, err := x.Spool.Read(p)
		if err != nil {
			return nil, err
		}
		var f IDFailure
		if err := json.Unmarshal(body, &f); err != nil {
			return nil, fmt.Errorf("spool %s: page %d: %w", x.Spool.Dir(), p.Page, err)
		}
		res.Failed = append(res.Failed, f)
	}
	return res, nil
}
