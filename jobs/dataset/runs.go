package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RunLayout is how a run is named: its start in UTC.
const RunLayout = "20060102T150405Z"

// RunID names the run that started at t.
func RunID(t time.Time) string { return t.UTC().Format(RunLayout) }

// Counts are what a run found, by ticket.
type Counts struct {
	Tickets   int64 `json:"tickets"`   // rows of the snapshot
	Inserted  int64 `json:"inserted"`  // not in the previous snapshot
	Updated   int64 `json:"updated"`   // in it, with a value changed
	Deleted   int64 `json:"deleted"`   // in it, and confirmed gone
	Unchanged int64 `json:"unchanged"` // in it, every value the same
	Recovered int64 `json:"recovered"` // missing from the listing but found by id
}

// Run is one line of _runs.jsonl: a committed run.
type Run struct {
	Run         string    `json:"run"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Selector    string    `json:"selector"`
	Counts      Counts    `json:"counts"`
	Requests    int64     `json:"requests"`
	CatalogHash string    `json:"catalog_hash"`
	Drift       []string  `json:"drift,omitempty"`
}

// manifest is _runs/RUN.json, written after the run's objects and before its
// line: its presence is what makes the run committed.
type manifest struct {
	Run    Run       `json:"run"`
	Schema *Contract `json:"schema"`
}

// Published returns the committed runs, oldest first, without changing the
// dataset: the lines of _runs.jsonl plus any run whose manifest was written
// but whose line was not (a commit interrupted at its last step).
func (s *Store) Published(ctx context.Context) ([]Run, error) {
	runs, _, err := s.published(ctx)
	return runs, err
}

// published also returns the newest manifest whose line is missing (nil
// when every committed run has its line), for repair.
func (s *Store) published(ctx context.Context) ([]Run, *manifest, error) {
	data, err := s.read(ctx, runsKey)
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
			return nil, nil, fmt.Errorf("dataset %s: %s line %d: not a run record: %v", s.where, runsKey, i+1, err)
		}
		runs = append(runs, r)
		have[r.Run] = true
	}
	keys, err := s.list(ctx, manifestsDir)
	if err != nil {
		return nil, nil, err
	}
	var unlisted *manifest
	for _, k := range keys {
		run, ok := strings.CutSuffix(strings.TrimPrefix(k, manifestsDir), ".json")
		if !ok || have[run] {
			continue
		}
		m, err := s.manifest(ctx, run)
		if err != nil {
			return nil, nil, err
		}
		runs = append(runs, m.Run)
		if unlisted == nil || m.Run.Run > unlisted.Run.Run {
			unlisted = m
		}
	}
	slices.SortFunc(runs, func(a, b Run) int { return strings.Compare(a.Run, b.Run) })
	return runs, unlisted, nil
}

func (s *Store) manifest(ctx context.Context, run string) (*manifest, error) {
	data, err := s.read(ctx, manifestKey(run))
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil || m.Run.Run != run || m.Schema == nil {
		return nil, fmt.Errorf("dataset %s: %s: not a run manifest: %v", s.where, manifestKey(run), err)
	}
	return &m, nil
}

// Repair finishes the publication of runs whose manifest was written but
// whose line in _runs.jsonl was not, and returns the committed runs.
func (s *Store) Repair(ctx context.Context) ([]Run, error) {
	runs, unlisted, err := s.published(ctx)
	if err != nil || unlisted == nil {
		return runs, err
	}
	if unlisted.Run.Run == runs[len(runs)-1].Run {
		// The run stopped before _schema.json too, maybe.
		if err := s.writeSchema(ctx, unlisted.Schema); err != nil {
			return nil, err
		}
	}
	if err := s.writeRuns(ctx, runs); err != nil {
		return nil, err
	}
	return runs, nil
}

// publish commits a run whose objects are all written: manifest, contract,
// then the run's line.
func (s *Store) publish(ctx context.Context, prev []Run, r Run, c *Contract) error {
	data, err := json.MarshalIndent(manifest{Run: r, Schema: c}, "", "  ")
	if err != nil {
		return err
	}
	if err := s.write(ctx, manifestKey(r.Run), data); err != nil {
		return err
	}
	if err := s.writeSchema(ctx, c); err != nil {
		return err
	}
	return s.writeRuns(ctx, append(slices.Clip(prev), r))
}

// writeRuns rewrites _runs.jsonl whole: object storage cannot append.
func (s *Store) writeRuns(ctx context.Context, runs []Run) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range runs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return s.write(ctx, runsKey, buf.Bytes())
}

// cleanUnpublished removes the run folders that no committed run owns: what
// a crashed or failed run left behind.
func (s *Store) cleanUnpublished(ctx context.Context, runs []Run) error {
	if err := s.removeStrayTemps(); err != nil {
		return err
	}
	committed := map[string]bool{}
	for _, r := range runs {
		committed[r.Run] = true
	}
	for _, table := range tables {
		folders, err := s.runFolders(ctx, table)
		if err != nil {
			return err
		}
		for _, run := range folders {
			if !committed[run] {
				if err := s.removeRun(ctx, table, run); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// retain removes the snapshots of all but the last keep committed runs
// (keep 0 keeps every one). Changes and history stay.
func (s *Store) retain(ctx context.Context, runs []Run, keep int) error {
	if keep <= 0 || len(runs) <= keep {
		return nil
	}
	oldest := runs[len(runs)-keep].Run // the oldest snapshot kept
	folders, err := s.runFolders(ctx, TableTickets)
	if err != nil {
		return err
	}
	for _, run := range folders {
		if run < oldest {
			if err := s.removeRun(ctx, TableTickets, run); err != nil {
				return err
			}
		}
	}
	return nil
}
