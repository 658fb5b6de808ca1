package main

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icetable "github.com/apache/iceberg-go/table"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// catalogSync runs the binary's sync with env added and returns its exit
// code and stderr; kill, when set, is polled and the run SIGKILLed once it
// says so (killed reports whether that happened).
func catalogSync(t *testing.T, env []string, kill func() bool, args ...string) (code int, stderr string, killed bool) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"sync", "--quiet"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ee.ExitCode() < 0 {
					return -1, out.String(), killed
				}
				return ee.ExitCode(), out.String(), killed
			}
			if err != nil {
				t.Fatal(err)
			}
			return 0, out.String(), killed
		case <-tick.C:
			if kill != nil && !killed && kill() {
				killed = true
				_ = cmd.Process.Kill()
			}
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("sync did not finish: %s", out.String())
		}
	}
}

// catalogTable loads a table through a fresh iceberg-go catalog/sql handle.
func catalogTable(t *testing.T, db *sql.DB, name string) *icetable.Table {
	t.Helper()
	cat, err := sqlcat.NewCatalog("udesk", db, sqlcat.Postgres, nil)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cat.LoadTable(context.Background(), []string{"udesk", name})
	if err != nil {
		t.Fatalf("loading udesk.%s through the catalog: %v", name, err)
	}
	return tbl
}

// rowsAt counts a snapshot's rows, read by iceberg-go.
func rowsAt(t *testing.T, tbl *icetable.Table, snap int64) int {
	t.Helper()
	_, records, err := tbl.Scan(icetable.WithSnapshotID(snap)).ToArrowRecords(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rec, err := range records {
		if err != nil {
			t.Fatal(err)
		}
		n += int(rec.NumRows())
		rec.Release()
	}
	return n
}

// The real binary syncs through a PostgreSQL catalog and is SIGKILLed in
// its second run between the tickets metadata file and the catalog's
// swap: the catalog still loads every table at a committed snapshot (the
// first run's tickets), and the next run completes the run, once.
func TestSyncCatalogSurvivesSIGKILLDuringCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	url, password := datasettest.StartPostgres(t)
	sim := newSim(t, udesktest.Options{Tickets: 300, Seed: 17})
	ds := filepath.Join(t.TempDir(), "ds")
	env := []string{"UDESK_URL=" + sim.URL(), "UDESK_SECRET=" + sim.Secret(), "UDESK_RATE=unlimited", "PGPASSWORD=" + password}
	args := []string{"--dataset", ds, "--catalog", url}
	if code, out, _ := catalogSync(t, env, nil, args...); code != 0 {
		t.Fatalf("first sync: exit %d: %s", code, out)
	}
	sim.Mutate(udesktest.Mutation{Seed: 2, Update: 5, Delete: 2, Create: 3})
	// Tickets' metadata files: 00000 (created), 00001 (first run), 00002
	// (this run's, not yet swapped in while the run pauses there).
	second := func() bool {
		m, _ := filepath.Glob(filepath.Join(ds, "tickets", "metadata", "00002-*.metadata.json"))
		return len(m) > 0
	}
	code, out, killed := catalogSync(t, append(env, "UDESK_TEST_PAUSE_AT=metadata-created:tickets"), second, args...)
	if !killed {
		t.Fatalf("the kill did not land: exit %d: %s", code, out)
	}
	db, err := sql.Open("pgx", strings.Replace(url, "udesk@", "udesk:"+password+"@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tickets := catalogTable(t, db, "tickets")
	if n := len(tickets.Metadata().Snapshots()); n != 1 || rowsAt(t, tickets, tickets.CurrentSnapshot().SnapshotID) != 300 {
		t.Fatalf("after the kill tickets has %d snapshots, want the first run's only", n)
	}
	for _, name := range []string{"changes", "field_history"} {
		catalogTable(t, db, name) // loads: its metadata_location is a committed file
	}

	if code, out, _ := catalogSync(t, env, nil, args...); code != 0 {
		t.Fatalf("the sync after the kill: exit %d: %s", code, out)
	}
	tickets = catalogTable(t, db, "tickets")
	snaps := tickets.Metadata().Snapshots()
	if len(snaps) != 2 || rowsAt(t, tickets, snaps[0].SnapshotID) != 300 || rowsAt(t, tickets, snaps[1].SnapshotID) != 301 {
		t.Fatalf("tickets has %d snapshots, want 300 then 301 rows", len(snaps))
	}
	changes := catalogTable(t, db, "changes")
	if n := rowsAt(t, changes, changes.CurrentSnapshot().SnapshotID); n != 310 {
		t.Fatalf("changes holds %d rows, want 300 + 10 (the killed run's rows once)", n)
	}
}

// A wrong catalog password, a password in the URL and a catalog that does
// not answer are configuration: exit 2 naming the catalog, never the
// password.
func TestSyncCatalogRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	url, password := datasettest.StartPostgres(t)
	sim := newSim(t, udesktest.Options{Tickets: 20, Seed: 5})
	ds := filepath.Join(t.TempDir(), "ds")
	env := []string{"UDESK_URL=" + sim.URL(), "UDESK_SECRET=" + sim.Secret(), "UDESK_RATE=unlimited"}
	wrong := "wrong-pw-" + password
	pwfile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwfile, []byte(wrong+"\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "postgres://udesk@" + ln.Addr().String() + "/catalog?sslmode=disable"
	ln.Close()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"PGPASSWORD", []string{"PGPASSWORD=" + wrong}, []string{"--catalog", url}, "connect"},
		{"password file", nil, []string{"--catalog", url, "--catalog-password-file", pwfile}, "connect"},
		{"in the URL", nil, []string{"--catalog", strings.Replace(url, "udesk@", "udesk:"+wrong+"@", 1)}, "PGPASSWORD"},
		{"no server", []string{"PGPASSWORD=" + password}, []string{"--catalog", closed}, "connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, _ := catalogSync(t, append(env, tc.env...), nil, append([]string{"--dataset", ds}, tc.args...)...)
			if code != 2 || !strings.Contains(out, "catalog postgres://udesk") || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want 2 naming the catalog and %q: %s", code, tc.want, out)
			}
			if strings.Contains(out, wrong) || strings.Contains(out, password) {
				t.Fatalf("the password is in the output: %s", out)
			}
		})
	}
}
