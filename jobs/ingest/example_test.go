package ingest_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Create a ticket per row of a CSV file, here against the built-in
// simulator; a real tenant needs only its URL and secret.
func ExampleRun() {
	sim, _ := udesktest.NewServer(udesktest.Options{})
	defer sim.Close()
	dir, _ := os.MkdirTemp("", "ingest-example")
	defer os.RemoveAll(dir)
	input := filepath.Join(dir, "tickets.csv")
	os.WriteFile(input, []byte("subject,content,email\n打印机无法连接,三楼打印机,li.lei@example.com\n退款进度,订单 20261101,li.lei@example.com\n"), 0o600)

	client, err := udesk.NewClient(udesk.Config{BaseURL: sim.URL(), Signer: udesk.NewMD5Signer(sim.Secret())})
	if err != nil {
		log.Fatal(err)
	}
	rep, err := ingest.Run(context.Background(), client, ingest.Input{Path: input},
		ingest.Options{Op: mapping.Create, Tenant: sim.URL()})
	if err != nil {
		log.Fatal(err)
	}
	// success.csv and errors.csv are in rep.Results.
	fmt.Printf("%d rows read, %d tickets created, %d rows failed\n", rep.Read, rep.Written, rep.Failed)
	// Output: 2 rows read, 2 tickets created, 0 rows failed
}
