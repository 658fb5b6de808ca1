package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// keyIndex is the tenant's tickets that hold a key, by key: Udesk's API has
// no external id and no search by custom field, so an upsert lists every
// ticket once (⌈N/100⌉ requests). A real run keeps it in its state
// (keyindex.json), so that a resumed run compares with the same tickets and
// does not list again.
type keyIndex struct {
	Field  string                    `json:"field"`  // the key's field_name
	Listed int                       `json:"listed"` // tickets listed
	Pages  int                       `json:"pages"`  // requests it took
	At     time.Time                 `json:"at"`
	ByKey  map[string][]udesk.Ticket `json:"by_key"`
}

// listPerPage is the listing's largest page.
const listPerPage = 100

// listKeys lists every ticket of the tenant and indexes those whose field
// holds a key.
func listKeys(ctx context.Context, api interface {
	Page(context.Context, udesk.Listing, int, int) (*udesk.Page, error)
}, field string, obs pipeline.Observer) (*keyIndex, error) {
	idx := &keyIndex{Field: field, At: time.Now(), ByKey: map[string][]udesk.Ticket{}}
	prog := obs.Phase("key index", "tickets", 0)
	defer prog.Finish()
	for page := 1; ; page++ {
		p, err := api.Page(ctx, udesk.Listing{}, page, listPerPage)
		if err != nil {
			return nil, fmt.Errorf("listing the tickets to find their keys (page %d): %w", page, err)
		}
		idx.Pages++
		if page == 1 {
			prog.SetTotal(int64(p.Total))
		}
		for _, t := range p.Tickets {
			if k := strings.TrimSpace(t.CustomFields[field]); k != "" {
				idx.ByKey[k] = append(idx.ByKey[k], t)
			}
		}
		idx.Listed += len(p.Tickets)
		prog.Add(len(p.Tickets))
		if len(p.Tickets) == 0 || page >= p.TotalPages {
			return idx, nil
		}
	}
}

// save keeps the index in the job's state.
func (idx *keyIndex) save(path string) error {
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := pipeline.WriteFileAtomic(path, b, 0o600); err != nil {
		return fmt.Errorf("saving the key index: %w", err)
	}
	return nil
}

// loadKeyIndex reads a saved index of field; os.ErrNotExist when none was
// saved (the earlier run stopped while listing).
func loadKeyIndex(path, field string) (*keyIndex, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var idx keyIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("the saved key index %s: %v (run with --fresh to start over)", path, err)
	}
	if idx.Field != field {
		return nil, pipeline.Configf("the saved key index is of %s, not %s; use the same --key, or --fresh", idx.Field, field)
	}
	return &idx, nil
}
