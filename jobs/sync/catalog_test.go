package sync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/iceberg-go"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // the reader's s3:// IO
	icetable "github.com/apache/iceberg-go/table"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// catalogRuns makes two syncs into target through catalog c with 5
// updates, 2 deletes and 3 creates between them, and returns the tenant.
func catalogRuns(t *testing.T, target string, c dataset.CatalogConfig) *tenant {
	t.Helper()
	tn := newTenant(t, udesktest.Options{Tickets: 300, Seed: 7})
	opts := tn.options(target)
	opts.Catalog = c
	if r1, _ := tn.syncOK(t, opts); r1.Run.Counts.Tickets != 300 {
		t.Fatalf("first run counts %+v", r1.Run.Counts)
	}
	for i := range 5 {
		tn.UpdateTicket(int64(10+i*20), func(tk *udesktest.Ticket) { tk.Subject = "edited " + tk.Subject })
	}
	tn.DeleteTicket(250)
	tn.DeleteTicket(251)
	for i := range 3 {
		tn.CreateTicket(udesktest.Ticket{Subject: fmt.Sprint("new ", i)})
	}
	r2, _ := tn.syncOK(t, opts)
	if c := r2.Run.Counts; c.Tickets != 301 || c.Inserted != 3 || c.Updated != 5 || c.Deleted != 2 {
		t.Fatalf("second run counts %+v", c)
	}
	return tn
}

// checkCatalogReads opens the catalog with iceberg-go's catalog/sql (a
// reader of its own, not the tool's code) and reads every snapshot of the
// three tables with exact counts.
func checkCatalogReads(t *testing.T, db *sql.DB, dialect sqlcat.SupportedDialect, namespace string, props iceberg.Properties) *sqlcat.Catalog {
	t.Helper()
	ctx := context.Background()
	cat, err := sqlcat.NewCatalog(dataset.CatalogName, db, dialect, props)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for id, err := range cat.ListTables(ctx, []string{namespace}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.Join(id, "."))
	}
	if want := namespace + ".changes " + namespace + ".field_history " + namespace + ".tickets"; strings.Join(sortedStrings(names), " ") != want {
		t.Fatalf("namespace holds %v, want %s", names, want)
	}
	counts := func(name string) []int {
		tbl, err := cat.LoadTable(ctx, []string{namespace, name})
		if err != nil {
			t.Fatal(err)
		}
		var n []int
		for _, s := range snapshotsInOrder(tbl) {
			n = append(n, len(scanRows(t, tbl.Scan(icetable.WithSnapshotID(s.SnapshotID)))))
		}
		return n
	}
	if got := counts(dataset.TableTickets); fmt.Sprint(got) != "[300 301]" {
		t.Fatalf("tickets snapshots hold %v rows, want [300 301]", got)
	}
	// changes: the first run's 300 inserts, then 3+5+2 more.
	if got := counts(dataset.TableChanges); len(got) != 2 || got[0] != 300 || got[1]-got[0] != 10 {
		t.Fatalf("changes snapshots hold %v rows, want [300 310]", got)
	}
	// field_history: the second run's edits (the first run has none).
	if got := counts(dataset.TableHistory); len(got) == 0 || got[len(got)-1] < 5 {
		t.Fatalf("field_history snapshots hold %v rows: the second run's 5 edits are missing", got)
	}
	return cat
}

func snapshotsInOrder(tbl *icetable.Table) []icetable.Snapshot {
	snaps := tbl.Metadata().Snapshots()
	out := make([]icetable.Snapshot, len(snaps))
	copy(out, snaps)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].SequenceNumber < out[i].SequenceNumber {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// Two syncs through a SQLite catalog: iceberg-go's catalog/sql loads the
// tables and reads both snapshots. The dataset then refuses to be opened
// without the catalog, and a folder dataset refuses the catalog.
func TestSyncSQLiteCatalog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dataset")
	file := filepath.Join(t.TempDir(), "catalog.db")
	catalogRuns(t, dir, dataset.CatalogConfig{URL: "sqlite:" + file})
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkCatalogReads(t, db, sqlcat.SQLite, dataset.DefaultNamespace, nil)

	_, err = dataset.Open(context.Background(), dir)
	if err == nil {
		s, _ := dataset.Open(context.Background(), dir)
		_, err = s.Published(context.Background())
		s.Close()
	}
	if !errors.As(err, new(*pipeline.ConfigError)) || !strings.Contains(err.Error(), "--catalog") {
		t.Fatalf("the catalog's dataset opened without it: %v", err)
	}

	folder := filepath.Join(t.TempDir(), "folder")
	tn := newTenant(t, udesktest.Options{Tickets: 20, Seed: 3})
	tn.syncOK(t, tn.options(folder))
	opts := tn.options(folder)
	opts.Catalog = dataset.CatalogConfig{URL: "sqlite:" + file, Namespace: "other"}
	if _, err := Run(context.Background(), tn.client, opts); !errors.As(err, new(*pipeline.ConfigError)) || !strings.Contains(err.Error(), "folder metadata") {
		t.Fatalf("a folder dataset synced into a catalog: %v", err)
	}
	// The same catalog namespace for another dataset: refused, not forked.
	opts = tn.options(filepath.Join(t.TempDir(), "elsewhere"))
	opts.Catalog = dataset.CatalogConfig{URL: "sqlite:" + file}
	if _, err := Run(context.Background(), tn.client, opts); !errors.As(err, new(*pipeline.ConfigError)) || !strings.Contains(err.Error(), "not in dataset") {
		t.Fatalf("a second dataset took over the catalog's tables: %v", err)
	}
}

// Two syncs through a real PostgreSQL catalog (password login): a fresh
// catalog/sql handle reads both snapshots; no secret is in the catalog's
// rows, the tables' properties or the snapshots' summaries.
func TestSyncPostgresCatalog(t *testing.T) {
	url, password := datasettest.StartPostgres(t)
	dir := filepath.Join(t.TempDir(), "dataset")
	catalogRuns(t, dir, dataset.CatalogConfig{URL: url, Password: password, Namespace: "reports"})
	db, err := sql.Open("pgx", strings.Replace(url, datasettest.PostgresUser+"@", datasettest.PostgresUser+":"+password+"@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat := checkCatalogReads(t, db, sqlcat.Postgres, "reports", nil)
	checkNoSecret(t, db, cat, "reports", password)
}

// checkNoSecret looks for secret in every row of the catalog's tables and
// in each table's properties and snapshot summaries.
func checkNoSecret(t *testing.T, db *sql.DB, cat *sqlcat.Catalog, namespace string, secrets ...string) {
	t.Helper()
	ctx := context.Background()
	var text strings.Builder
	for _, q := range []string{
		"SELECT catalog_name, table_namespace, table_name, COALESCE(metadata_location, ''), COALESCE(previous_metadata_location, '') FROM iceberg_tables",
		"SELECT catalog_name, namespace, property_key, COALESCE(property_value, '') FROM iceberg_namespace_properties",
	} {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&text, vals...)
		}
		rows.Close()
	}
	for _, name := range []string{dataset.TableTickets, dataset.TableChanges, dataset.TableHistory} {
		tbl, err := cat.LoadTable(ctx, []string{namespace, name})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&text, tbl.Properties())
		for _, s := range tbl.Metadata().Snapshots() {
			if s.Summary != nil {
				fmt.Fprintln(&text, s.Summary.Properties)
			}
		}
	}
	if !strings.Contains(text.String(), "metadata.json") {
		t.Fatalf("read nothing of the catalog: %s", text.String())
	}
	for _, secret := range secrets {
		if secret != "" && strings.Contains(text.String(), secret) {
			t.Fatalf("a secret is stored in the catalog or the tables' metadata")
		}
	}
}

// A dataset in a bucket with a SQLite catalog: the tool writes the
// metadata through its own S3 configuration (the AWS_* variables); a
// reader given the bucket's settings in memory reads both snapshots, and
// the S3 secret is nowhere in the catalog or the tables' metadata.
func TestSyncSQLiteCatalogS3(t *testing.T) {
	bucket, _ := datasettest.StartS3(t)
	file := filepath.Join(t.TempDir(), "catalog.db")
	catalogRuns(t, bucket+"/lake", dataset.CatalogConfig{URL: "sqlite:" + file})
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secret := os.Getenv("AWS_SECRET_ACCESS_KEY")
	cat := checkCatalogReads(t, db, sqlcat.SQLite, dataset.DefaultNamespace, iceberg.Properties{
		icebergio.S3EndpointURL: os.Getenv("AWS_ENDPOINT_URL"), icebergio.S3Region: "us-east-1",
		icebergio.S3AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), icebergio.S3SecretAccessKey: secret,
	})
	checkNoSecret(t, db, cat, dataset.DefaultNamespace, secret)
}
