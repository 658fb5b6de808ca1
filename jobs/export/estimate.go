package export

import (
	"context"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// Estimate is what an export of a selector would read: the tickets and the
// requests (without retries). It is made from at most one request.
type Estimate struct {
	Tickets  int
	Requests int
}

// EstimateRun says what Run would read, for a dry run: for a listing from
// page 1 read with one ticket per page, whose reply carries the listing's
// total; for ids without a request. It keeps no state and writes nothing.
func EstimateRun(ctx context.Context, api API, sel Selector) (Estimate, error) {
	if sel.IDs != nil {
		// One read per id, and the field catalog.
		return Estimate{Tickets: len(sel.IDs), Requests: len(sel.IDs) + 1}, nil
	}
	pg, err := api.PageHead(ctx, sel.Listing, 1, 1)
	if err != nil {
		return Estimate{}, err
	}
	return Estimate{Tickets: pg.Total, Requests: udesk.ListingRequests(pg.Total)}, nil
}
