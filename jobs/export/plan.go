package export

import (
	"context"
	"fmt"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// PlanReport is what Run would read, as Plan found it: the tickets and the
// requests (without retries). Its notes hold the warnings Run would give.
type PlanReport struct {
	pipeline.Report
	Tickets  int
	Requests int
}

// Plan says what Run would read, for a dry run: for a listing from page 1
// read with one ticket per page, whose reply carries the listing's total
// (and, for a filter, the list of filters, to warn when it is inactive); for
// ids without a request. It keeps no state and writes nothing; opts.Outputs
// may be empty.
func Plan(ctx context.Context, api API, opts Options) (*PlanReport, error) {
	if err := opts.validate(len(opts.Outputs) > 0); err != nil {
		return nil, err
	}
	p := &PlanReport{}
	if err := warnInactiveFilter(ctx, api, opts.Selector, opts.observer(), &p.Report); err != nil {
		return nil, err
	}
	sel := opts.Selector
	if sel.IDs != nil {
		// One read per id, and the field catalog.
		p.Tickets, p.Requests = len(sel.IDs), len(sel.IDs)+1
		return p, nil
	}
	pg, err := api.PageHead(ctx, sel.Listing, 1, 1)
	if err != nil {
		return nil, err
	}
	p.Tickets, p.Requests = pg.Total, udesk.ListingRequests(pg.Total)
	return p, nil
}

// warnInactiveFilter warns (a log line and a note of the report) when the
// selector's filter is inactive in Udesk: it may still list tickets, but
// not the ones its users expect.
func warnInactiveFilter(ctx context.Context, api API, sel Selector, obs pipeline.Observer, rep *pipeline.Report) error {
	if sel.Listing.FilterID == 0 || sel.IDs != nil {
		return nil
	}
	filters, err := api.Filters(ctx, sel.Listing.AgentID)
	if err != nil {
		return err
	}
	for _, f := range filters {
		if f.ID == sel.Listing.FilterID && !f.Active {
			w := fmt.Sprintf("filter %d (%s) is inactive in Udesk: its tickets are exported all the same; check it is the filter you mean (udesk-etl filters)", f.ID, f.Name)
			obs.Logf("warning: %s", w)
			rep.Note("%s", w)
		}
	}
	return nil
}
