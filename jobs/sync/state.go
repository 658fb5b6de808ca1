package sync

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// state is the run's file in its spool: what it lists and when it started,
// which names the run, so that a resumed run is the same run. Never the
// secret.
type state struct {
	Version  int       `json:"version"`
	URL      string    `json:"url"`
	Dataset  string    `json:"dataset"`
	Selector string    `json:"selector"`
	Started  time.Time `json:"started"`
	// UUID tells this run from another sync's that started in the same
	// second (its snapshots carry it).
	UUID string `json:"uuid,omitempty"`
	// Requests made by the earlier attempts that ended (a killed one's are
	// not counted).
	Requests int64 `json:"requests,omitempty"`
}

const stateFile = "sync.json"

// startOrResume returns the run's state: the interrupted run's when the
// spool holds one that may be resumed, else a new run's (in a new spool
// when the old one is discarded, saying why). fresh reports a new run.
func (o *Options) startOrResume(dir string, spool **pipeline.Spool, resumed bool, p plan, where string, runs []dataset.Run) (st *state, fresh bool, err error) {
	if resumed {
		old, err := readState(*spool)
		if err != nil {
			return nil, false, err
		}
		why := ""
		switch {
		case old == nil: // killed before its state was written: nothing fetched
		case committed(runs, dataset.RunID(old.Started), old.UUID) != nil:
			return old, false, nil // committed, not marked complete
		case committed(runs, dataset.RunID(old.Started), "") != nil:
			why = fmt.Sprintf("another sync that started in the same second committed run %s", dataset.RunID(old.Started))
		case pipeline.TenantKey(old.URL) != pipeline.TenantKey(o.Tenant) || old.Dataset != where || old.Selector != p.selector:
			why = fmt.Sprintf("it listed %s, this run lists %s", old.Selector, p.selector)
		case o.Now().Sub(old.Started) > o.ResumeWithin:
			why = fmt.Sprintf("it started at %s, more than --resume-within %s ago", old.Started.Format(time.RFC3339), o.ResumeWithin)
		case p.previous != nil && dataset.RunID(old.Started) <= p.previous.Run:
			why = fmt.Sprintf("run %s was committed after it started", p.previous.Run)
		default:
			return old, false, nil
		}
		if why != "" {
			o.Observer.Logf("sync: starting over: the interrupted run in %s cannot be resumed (%s)", (*spool).Dir(), why)
			(*spool).Close()
			if *spool, _, err = pipeline.OpenSpool(dir, true); err != nil {
				return nil, false, fmt.Errorf("state folder: %w", err)
			}
		}
	}
	started := o.Now().UTC().Truncate(time.Second)
	if p.previous != nil && !started.After(p.previous.Started) {
		// Runs are named by their start in whole seconds: one that follows
		// the previous at once waits for the next second. A clock far
		// behind the latest run (or a run committed by a clock that was
		// ahead) does not block the dataset: runs are ordered by their
		// snapshots, and this one only needs a name no run has.
		next := p.previous.Started.UTC().Truncate(time.Second).Add(time.Second)
		if wait := next.Sub(started); wait <= 2*time.Second {
			time.Sleep(wait)
			started = next
		} else {
			o.Observer.Logf("sync: the clock (%s) is behind the dataset's latest run %s; the run is named by the clock", started.Format(time.RFC3339), p.previous.Run)
			// A run's name is never later than its clock: a name taken
			// (by a run of this second, long ago) waits for the next.
			for committed(runs, dataset.RunID(started), "") != nil {
				time.Sleep(time.Until(started.Add(time.Second)))
				started = o.Now().UTC().Truncate(time.Second)
			}
		}
	}
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, false, err
	}
	st = &state{Version: stateVersion, URL: o.Tenant, Dataset: where, Selector: p.selector, Started: started, UUID: hex.EncodeToString(nonce[:])}
	return st, true, writeState(*spool, st)
}

func writeState(spool *pipeline.Spool, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return spool.WriteFile(stateFile, append(b, '\n'))
}

// readState reads the spool's state; nil when it has none.
func readState(spool *pipeline.Spool) (*state, error) {
	b, err := spool.ReadFile(stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Started.IsZero() {
		return nil, fmt.Errorf("%s: not a sync run's state (pass --fresh to start over): %v", filepath.Join(spool.Dir(), stateFile), err)
	}
	return &st, nil
}

// vanished is what the lookups of the previous run's tickets the listing
// did not return answered so far: the run's file vanishedFile.
type vanished struct {
	Found   []udesk.Ticket `json:"found"`
	Deleted []int64        `json:"deleted"`
}

const (
	vanishedFile = "vanished.json"
	// vanishedBatch lookups are asked between two saves of their answers.
	vanishedBatch = 100
)

func readVanished(spool *pipeline.Spool) (*vanished, error) {
	b, err := spool.ReadFile(vanishedFile)
	if errors.Is(err, fs.ErrNotExist) {
		return &vanished{}, nil
	}
	if err != nil {
		return nil, err
	}
	var v vanished
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: not a sync run's lookups (pass --fresh to start over): %w", filepath.Join(spool.Dir(), vanishedFile), err)
	}
	return &v, nil
}

func writeVanished(spool *pipeline.Spool, v *vanished) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return spool.WriteFile(vanishedFile, b)
}
