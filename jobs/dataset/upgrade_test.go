package dataset

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// copyHive writes testdata/hive (a dataset of 3 runs written by the
// earlier release: tickets 1-3, then 1 updated, 3 deleted, 4 created, then
// 2 updated, 5 created) into the store.
func copyHive(t *testing.T, s *Store) {
	t.Helper()
	root := filepath.Join("testdata", "hive")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		return s.write(context.Background(), filepath.ToSlash(rel), data)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHiveDatasetIsUpgradedWithItsHistory(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		copyHive(t, s)
		current := feed(tk(1, "printer jam", nil), tk(2, "screen", nil), tk(4, "keyboard", nil), tk(5, "cable", nil))

		// Interrupted twice during the upgrade: nothing is lost, nothing
		// doubled.
		for _, point := range []string{"upgraded:" + TableChanges, "upgraded:" + TableHistory} {
			ctx, cancel := context.WithCancel(context.Background())
			_, err := Commit(ctx, s, current, nil, Options{Started: runAt(3), Catalog: testFields(), TempDir: t.TempDir(),
				Pause: func(p string) {
					if p == point {
						cancel()
					}
				}})
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted at %s: %v", point, err)
			}
		}
		if k := keys(t, s, "_runs.jsonl"); len(k) != 1 {
			t.Fatal("an interrupted upgrade removed the earlier layout")
		}

		// The fixture's tickets as its last run left them, with the
		// values the test fixture gave them.
		t1 := tk(1, "printer jam", map[string]string{"TextField_1": "a", "SelectField_1": "0", "SelectField_2": "0,2", "TextField_2": "2026-12-24", "NumberField_1": "3", "TextField_3": "09:30:00"})
		t1.UpdatedAt = "2026-12-01 09:00:00 +0800"
		t2 := tk(2, "screen", map[string]string{"SelectField_1": "0"})
		t2.UpdatedAt = "2026-12-01 10:00:00 +0800"
		r := commitRun(t, s, 3, feed(t1, t2, tk(4, "keyboard", nil), tk(5, "cable", nil)), nil, Options{Selector: "all tickets"})
		if len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "upgraded") || !strings.Contains(r.Notes[0], "3 runs") {
			t.Fatalf("notes %q: want the upgrade said in one line", r.Notes)
		}
		wantCounts(t, r.Run.Counts, Counts{Tickets: 4, Unchanged: 4})

		runs, err := s.Published(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range runs {
			names = append(names, p.Run)
		}
		want := []string{RunID(runAt(0)), RunID(runAt(1)), RunID(runAt(2)), r.Run.Run}
		if !slices.Equal(names, want) || runs[1].Counts != (Counts{Tickets: 3, Inserted: 1, Updated: 1, Deleted: 1, Unchanged: 1}) {
			t.Fatalf("published %+v, want runs %v with the earlier counts", runs, want)
		}
		for run, wantOps := range map[string]string{RunID(runAt(0)): "insert insert insert", RunID(runAt(1)): "update delete insert", RunID(runAt(2)): "update insert"} {
			var ops []string
			for _, c := range readTable(t, s, TableChanges, run) {
				ops = append(ops, c["op"])
			}
			if strings.Join(ops, " ") != wantOps {
				t.Fatalf("changes of %s: %v, want %s", run, ops, wantOps)
			}
		}
		if h := readTable(t, s, TableHistory, RunID(runAt(2))); len(h) != 2 || h[0]["id"] != "2" {
			t.Fatalf("history of the last earlier run: %v", h)
		}
		if rows := readTable(t, s, TableTickets, RunID(runAt(2))); len(rows) != 4 || rows[0]["时刻"] != "09:30:00" || rows[0]["subject"] != "printer jam" {
			t.Fatalf("tickets as the earlier layout's last run left them: %v", rows)
		}
		for _, k := range keys(t, s, "") {
			if strings.Contains(k, "run=") || strings.HasPrefix(k, "_") {
				t.Fatalf("the earlier layout's %s is still there", k)
			}
		}
	})
}
