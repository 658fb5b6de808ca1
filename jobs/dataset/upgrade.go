package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// The layout of earlier releases: Hive-style run folders (TABLE/run=RUN/
// part-00000.parquet), the column contract _schema.json, the manifests
// _runs/RUN.json (a run's commit point) and the list _runs.jsonl.
const (
	hiveSchemaKey = "_schema.json"
	hiveRunsKey   = "_runs.jsonl"
	hiveManifests = "_runs/"
	hivePart      = "part-00000.parquet"
)

func hivePartKey(table, run string) string { return table + "/run=" + run + "/" + hivePart }

// hiveManifest is _runs/RUN.json.
type hiveManifest struct {
	Run    Run       `json:"run"`
	Schema *Contract `json:"schema"`
}

// Upgrade turns a dataset of the earlier layout into the Iceberg
// tables, its history kept: each published run becomes a snapshot of
// changes and of field_history (with its rows and its summary), and the
// latest run's snapshot becomes the first snapshot of tickets. Each step
// is a commit that a rerun skips when it is done, and the old files are
// removed only after the tickets commit, so an interrupted upgrade is
// continued by the next run and loses nothing. It returns the line that
// says what it did ("" when there was nothing to upgrade).
func (s *Store) Upgrade(ctx context.Context, tempDir string, owner Owner) (string, error) {
	old, contract, err := s.hiveRuns(ctx)
	if err != nil || len(old) == 0 {
		return "", err
	}
	st, err := s.tables(ctx)
	if err != nil {
		return "", err
	}
	if st.latest() != nil {
		// Upgraded; a kill during the clean-up left old files.
		return "", s.removeHive(ctx)
	}
	tmp, err := os.MkdirTemp(tempDir, "upgrade-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	stage := func(table, run string) (string, error) {
		path := filepath.Join(tmp, table+"-"+run+".parquet")
		f, err := os.Create(path)
		if err != nil {
			return "", err
		}
		err = s.bucket.Download(ctx, hivePartKey(table, run), f, nil)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("dataset %s: upgrading run %s: %s: %w", s.where, run, table, err)
		}
		return path, nil
	}
	for _, name := range []string{TableChanges, TableHistory} {
		schema := changesSchema
		if name == TableHistory {
			schema = historySchema
		}
		t, err := s.ensure(ctx, map[string]*table.Table{TableChanges: st.changes, TableHistory: st.history}[name], name, icebergSchema(schema, false), writeProps)
		if err != nil {
			return "", err
		}
		for _, r := range old {
			if hasRun(t, r.Run, "") {
				continue
			}
			path, err := stage(name, r.Run)
			if err != nil {
				return "", err
			}
			if err := s.appendRun(ctx, t, path, r.summary(), nil); err != nil {
				return "", err
			}
			if t, err = s.catalog(name).load(ctx); err != nil {
				return "", err
			}
		}
		s.at("upgraded:" + name)
	}
	last := old[len(old)-1]
	path, err := stage(TableTickets, last.Run)
	if err != nil {
		return "", err
	}
	tt, err := s.ensure(ctx, st.tickets, TableTickets, icebergSchema(contract.schema(), true), writeProps)
	if err != nil {
		return "", err
	}
	cj, err := json.Marshal(contract)
	if err != nil {
		return "", err
	}
	props := iceberg.Properties{propContract: string(cj)}
	if owner.Tenant != "" {
		props[propTenant] = owner.Tenant
	}
	if owner.Selector != "" {
		props[propOwnerSel] = owner.Selector
	}
	if err := s.commitTickets(ctx, tt, contract, props, path, nil, last.summary()); err != nil {
		return "", err
	}
	if err := s.removeHive(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("upgraded the dataset from the earlier layout (run=RUN folders, %s) to Iceberg tables: %d runs, their changes and field history kept, run %s's snapshot is the first of %s",
		hiveRunsKey, len(old), last.Run, TableTickets), nil
}

// hiveRuns returns the published runs of the earlier layout, oldest first,
// and the contract of the latest; none for a dataset without them.
func (s *Store) hiveRuns(ctx context.Context) ([]Run, *Contract, error) {
	data, err := s.read(ctx, hiveRunsKey)
	if err != nil {
		return nil, nil, err
	}
	var runs []Run
	have := map[string]bool{}
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Run
		if err := json.Unmarshal(line, &r); err != nil || r.Run == "" {
			return nil, nil, fmt.Errorf("dataset %s: %s line %d: not a run record: %v", s.where, hiveRunsKey, i+1, err)
		}
		runs = append(runs, r)
		have[r.Run] = true
	}
	// A run whose manifest was written but not its line is published too.
	keys, err := s.list(ctx, hiveManifests)
	if err != nil {
		return nil, nil, err
	}
	var contract *Contract
	latest := ""
	for _, k := range keys {
		run, ok := strings.CutSuffix(strings.TrimPrefix(k, hiveManifests), ".json")
		if !ok {
			continue
		}
		b, err := s.read(ctx, k)
		if err != nil {
			return nil, nil, err
		}
		var m hiveManifest
		if err := json.Unmarshal(b, &m); err != nil || m.Run.Run != run || m.Schema == nil {
			return nil, nil, fmt.Errorf("dataset %s: %s: not a run manifest: %v", s.where, k, err)
		}
		if !have[run] {
			runs = append(runs, m.Run)
			have[run] = true
		}
		if run > latest {
			latest, contract = run, m.Schema
		}
	}
	if len(runs) == 0 {
		return nil, nil, nil
	}
	slices.SortFunc(runs, func(a, b Run) int { return strings.Compare(a.Run, b.Run) })
	if latest != runs[len(runs)-1].Run || contract == nil {
		// Runs written before manifests kept their contract: _schema.json.
		b, err := s.read(ctx, hiveSchemaKey)
		if err != nil {
			return nil, nil, err
		}
		contract = &Contract{}
		if err := json.Unmarshal(b, contract); err != nil {
			return nil, nil, fmt.Errorf("dataset %s: %s: %v", s.where, hiveSchemaKey, err)
		}
	}
	return runs, contract, nil
}

// removeHive deletes the earlier layout's files of the upgraded runs (and
// of crashed ones: any run= folder), _runs.jsonl last, so that a kill
// leaves what the next run finishes removing.
func (s *Store) removeHive(ctx context.Context) error {
	var keys []string
	for _, name := range []string{TableTickets, TableChanges, TableHistory} {
		all, err := s.list(ctx, name+"/run=")
		if err != nil {
			return err
		}
		keys = append(keys, all...)
	}
	manifests, err := s.list(ctx, hiveManifests)
	if err != nil {
		return err
	}
	keys = append(keys, manifests...)
	keys = append(keys, hiveSchemaKey, hiveRunsKey)
	if err := s.remove(ctx, keys...); err != nil {
		return err
	}
	if s.dir != "" {
		for _, name := range []string{TableTickets, TableChanges, TableHistory} {
			dirs, _ := filepath.Glob(filepath.Join(s.dir, name, "run=*"))
			for _, d := range dirs {
				os.Remove(d) // empty now; a folder with a user's file stays
			}
		}
		os.Remove(filepath.Join(s.dir, strings.TrimSuffix(hiveManifests, "/")))
	}
	return nil
}
