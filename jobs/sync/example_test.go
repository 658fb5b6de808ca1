package sync_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/udesk-etl/udesk-etl/jobs/sync"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// ExampleRun syncs a tenant (here the simulator) into a dataset folder
// twice, with a ticket deleted between the runs.
func ExampleRun() {
	tenant, _ := udesktest.NewServer(udesktest.Options{Tickets: 250}) // your tenant's URL and secret instead
	defer tenant.Close()
	dir, _ := os.MkdirTemp("", "reports")
	defer os.RemoveAll(dir)

	client, err := udesk.NewClient(udesk.Config{BaseURL: tenant.URL(), Signer: udesk.NewMD5Signer(tenant.Secret())})
	if err != nil {
		log.Fatal(err)
	}
	opts := sync.Options{Dataset: filepath.Join(dir, "tickets"), Tenant: tenant.URL()} // or "s3://bucket/prefix"
	for range 2 {
		rep, err := sync.Run(context.Background(), client, opts)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%+v\n", rep.Run.Counts)
		tenant.DeleteTicket(7)
	}
	// Output:
	// {Tickets:250 Inserted:250 Updated:0 Deleted:0 Unchanged:0 Recovered:0}
	// {Tickets:249 Inserted:0 Updated:0 Deleted:1 Unchanged:249 Recovered:0}
}
