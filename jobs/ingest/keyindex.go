package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/listing"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// keyIndex is the tenant's tickets that hold a key, by key: Udesk's API has
// no external id and no search by custom field, so an upsert lists every
// ticket once (udesk.ListingRequests), through the listing reader, so that
// a ticket the pages shift under the read is indexed once and none that
// existed throughout is missed: a missed key would be a second ticket, a
// ticket met twice a false duplicate_key. A real run keeps the index in its
// state (keyindex.json): a run that goes on after it lists again, and tells
// by the saved index which creates were in doubt.
type keyIndex struct {
	Field  string                    `json:"field"`  // the key's field_name
	Listed int                       `json:"listed"` // tickets listed
	Pages  int                       `json:"pages"`  // requests it took
	At     time.Time                 `json:"at"`
	ByKey  map[string][]udesk.Ticket `json:"by_key"`
}

// listKeys lists every ticket of the tenant and indexes those whose field
// holds a key (trimmed, as a row's key is).
func listKeys(ctx context.Context, api listing.Lister, field string, obs pipeline.Observer) (*keyIndex, error) {
	idx := &keyIndex{Field: field, At: time.Now(), ByKey: map[string][]udesk.Ticket{}}
	prog := obs.Phase("key index", "tickets", 0)
	defer prog.Finish()
	var total int
	st, err := listing.Each(ctx, api, udesk.Listing{}, listing.EachOptions{
		OnTotal:   func(n int) { total += n; prog.SetTotal(int64(total)) },
		OnTickets: prog.Add,
	}, func(ts []udesk.Ticket) error {
		for _, t := range ts {
			if k := strings.TrimSpace(t.CustomFields[field]); k != "" {
				idx.ByKey[k] = append(idx.ByKey[k], t)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the tickets to find their keys: %w", err)
	}
	idx.Listed, idx.Pages = st.Tickets, st.Requests
	return idx, nil
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
