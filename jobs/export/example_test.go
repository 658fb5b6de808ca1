package export_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/udesk-etl/udesk-etl/jobs/export"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// ExampleRun exports every ticket of a tenant (here the simulator) to a
// Parquet file and an Excel workbook in one pass.
func ExampleRun() {
	tenant, _ := udesktest.NewServer(udesktest.Options{Tickets: 250}) // your tenant's URL and secret instead
	defer tenant.Close()
	dir, _ := os.MkdirTemp("", "tickets")
	defer os.RemoveAll(dir)

	client, err := udesk.NewClient(udesk.Config{BaseURL: tenant.URL(), Signer: udesk.NewMD5Signer(tenant.Secret())})
	if err != nil {
		log.Fatal(err)
	}
	report, err := export.Run(context.Background(), client, export.Options{
		Tenant:  tenant.URL(),
		Outputs: []string{filepath.Join(dir, "tickets.parquet"), filepath.Join(dir, "tickets.xlsx")},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(report.Written, "tickets exported")
	// Output: 250 tickets exported
}
