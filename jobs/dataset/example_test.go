package dataset_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// A sync job's use of the package: the listing is the feed (an export's
// Render has its shape), and the lookup asks the API for the tickets the
// listing missed.
func ExampleCommit() {
	dir, _ := os.MkdirTemp("", "dataset-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := dataset.Open(ctx, dir) // or "s3://bucket/prefix"
	if err != nil {
		panic(err)
	}
	defer store.Close()

	catalog := []udesk.Field{{Name: "TextField_1", Label: "备注", ContentType: udesk.TypeText}}
	listing := func(ts ...udesk.Ticket) dataset.TicketFeed {
		return func(ctx context.Context, emit func([]udesk.Ticket) error) error { return emit(ts) }
	}
	lookup := func(ctx context.Context, ids []int64) ([]udesk.Ticket, []int64, error) {
		return nil, ids, nil // e.g. GET /tickets/:id answered 1003 for each
	}
	start := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	for i, tickets := range [][]udesk.Ticket{
		{{ID: 1, Subject: "a"}, {ID: 2, Subject: "b"}},
		{{ID: 1, Subject: "a, edited"}, {ID: 3, Subject: "c"}},
	} {
		res, err := dataset.Commit(ctx, store, listing(tickets...), lookup, dataset.Options{
			Started: start.Add(time.Duration(i) * time.Hour), Catalog: catalog, Selector: "all",
		})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %+v\n", res.Run.Run, res.Run.Counts)
	}
	// Output:
	// 20261201T020000Z {Tickets:2 Inserted:2 Updated:0 Deleted:0 Unchanged:0 Recovered:0}
	// 20261201T030000Z {Tickets:2 Inserted:1 Updated:1 Deleted:1 Unchanged:0 Recovered:0}
}
