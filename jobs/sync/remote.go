package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// remoteState is a run's state beside a dataset in a bucket, so that a run
// killed on one machine resumes on another with an empty disk: the local
// spool is then only its cache. Under remotePrefix it holds the spool's
// named files (sync.json first) and its log as segments pages/<offset>.log,
// each a range of the log as it became durable locally: concatenated in
// order they are the log. One run at a time writes a dataset, so there is
// one state.
type remoteState struct {
	store *dataset.Store
	ctx   context.Context
	// guard, when set, is asked before each write: a run that lost the
	// dataset (its lease) stops writing state.
	guard func() error
}

const (
	remotePrefix   = dataset.AsidePrefix + "state/"
	remotePages    = remotePrefix + "pages/"
	stateVersion   = 1
	segmentPattern = "%016d.log"
)

var _ pipeline.SpoolMirror = (*remoteState)(nil)

func (r *remoteState) where() string { return r.store.String() + "/" + remotePrefix }

// Append stores the log's bytes from off as one segment.
func (r *remoteState) Append(off int64, b []byte) error {
	if err := r.check(); err != nil {
		return err
	}
	return r.store.WriteAside(r.ctx, remotePages+fmt.Sprintf(segmentPattern, off), b)
}

// WriteFile stores a named file of the spool.
func (r *remoteState) WriteFile(name string, b []byte) error {
	if err := r.check(); err != nil {
		return err
	}
	return r.store.WriteAside(r.ctx, remotePrefix+name, b)
}

func (r *remoteState) check() error {
	if r.guard == nil {
		return nil
	}
	if err := r.guard(); err != nil {
		return fmt.Errorf("not writing the run's state to %s: %w", r.where(), err)
	}
	return nil
}

// clear removes the state.
func (r *remoteState) clear() error {
	objs, err := r.store.ListAside(r.ctx, remotePrefix)
	if err != nil {
		return err
	}
	// sync.json last: a state cut short by a crash is still named by it
	// and is discarded, not resumed, by the next run.
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		if o.Key != remotePrefix+stateFile {
			keys = append(keys, o.Key)
		}
	}
	if err := r.removeAll(keys); err != nil {
		return err
	}
	return r.store.RemoveAside(r.ctx, remotePrefix+stateFile)
}

// removeAll deletes keys, several at a time: a long run leaves a segment
// per second or so.
func (r *remoteState) removeAll(keys []string) error {
	g, ctx := errgroup.WithContext(r.ctx)
	g.SetLimit(16)
	for _, k := range keys {
		g.Go(func() error { return r.store.RemoveAside(ctx, k) })
	}
	return g.Wait()
}

// clearPages removes the log's segments.
func (r *remoteState) clearPages() error {
	objs, err := r.store.ListAside(r.ctx, remotePages)
	if err != nil {
		return err
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return r.removeAll(keys)
}

// segment is one range of the log held remotely.
type segment struct {
	key       string
	off, size int64
}

// read returns the state's sync.json (nil when there is none), its other
// named files and its log's segments, in order and contiguous from 0 (a
// segment after a gap, which no run writes, is left out).
func (r *remoteState) read() (st *state, files map[string][]byte, segs []segment, size int64, err error) {
	b, err := r.store.ReadAside(r.ctx, remotePrefix+stateFile)
	if err != nil || b == nil {
		return nil, nil, nil, 0, err
	}
	st = &state{}
	if err := json.Unmarshal(b, st); err != nil || st.Started.IsZero() {
		// Not this version's state: the caller discards it.
		return &state{}, nil, nil, 0, nil
	}
	objs, err := r.store.ListAside(r.ctx, remotePrefix)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	files = map[string][]byte{}
	for _, o := range objs {
		if name, ok := strings.CutPrefix(o.Key, remotePages); ok {
			off, err := strconv.ParseInt(strings.TrimSuffix(name, ".log"), 10, 64)
			if err == nil && o.Size > 0 {
				segs = append(segs, segment{key: o.Key, off: off, size: o.Size})
			}
			continue
		}
		name := strings.TrimPrefix(o.Key, remotePrefix)
		if name == stateFile || strings.Contains(name, "/") {
			continue
		}
		if files[name], err = r.store.ReadAside(r.ctx, o.Key); err != nil {
			return nil, nil, nil, 0, err
		}
	}
	files[stateFile] = b
	sort.Slice(segs, func(i, j int) bool { return segs[i].off < segs[j].off })
	for i, s := range segs {
		if s.off != size {
			segs = segs[:i]
			break
		}
		size += s.size
	}
	return st, files, segs, size, nil
}

// copySegments writes the segments, concatenated, to w.
func (r *remoteState) copySegments(segs []segment) func(w io.Writer) error {
	return func(w io.Writer) error {
		for _, s := range segs {
			b, err := r.store.ReadAside(r.ctx, s.key)
			if err != nil {
				return err
			}
			if int64(len(b)) != s.size {
				return fmt.Errorf("%s/%s: %d bytes, listed with %d", r.store, s.key, len(b), s.size)
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	}
}

// attach makes the local spool hold the remote state's run, if the remote
// holds one this run may resume: the local spool is kept when it holds the
// same run at least as far (the bytes the remote lacks are uploaded),
// else it is rebuilt from the remote. A state of another version, tenant,
// dataset or selector is discarded, saying why. It returns whether the
// spool now holds a run to resume and how much of its log the remote holds.
func (o *Options) attach(r *remoteState, spool *pipeline.Spool, resumed bool, where, selector string) (bool, int64, error) {
	old, files, segs, size, err := r.read()
	if err != nil {
		return false, 0, err
	}
	why := ""
	switch {
	case old == nil:
		return resumed, 0, r.clear() // segments of a state cut short
	case old.Version != stateVersion:
		why = fmt.Sprintf("it was written by another version of udesk-etl (state version %d, this one reads %d)", old.Version, stateVersion)
	case pipeline.TenantKey(old.URL) != pipeline.TenantKey(o.Tenant):
		why = fmt.Sprintf("it is another tenant's (%s)", old.URL)
	case old.Dataset != where:
		why = fmt.Sprintf("it was written for dataset %s", old.Dataset)
	case old.Selector != selector:
		why = fmt.Sprintf("it listed %s, this run lists %s", old.Selector, selector)
	}
	if why != "" {
		o.Observer.Logf("sync: starting over: the interrupted run's state in %s cannot be resumed (%s); it is removed", r.where(), why)
		return resumed, 0, r.clear()
	}
	if resumed {
		if local, err := readState(spool); err == nil && local != nil && local.UUID == old.UUID && spool.LogSize() >= size {
			return true, size, nil
		}
	}
	if err := spool.Restore(r.copySegments(segs), files); err != nil {
		return false, 0, err
	}
	pages, _ := spool.Pages()
	o.Observer.Logf("sync: the interrupted run's state was read from %s (%d pages)", r.where(), len(pages))
	if spool.LogSize() != size {
		// Not the log the segments should make (never written so): the
		// local log is uploaded again whole.
		return true, 0, r.clearPages()
	}
	return true, size, nil
}

// remove removes the state of a run that ended (published, or never to
// commit); nothing for a dataset not in a bucket.
func (r *remoteState) remove() error {
	if r == nil {
		return nil
	}
	return r.clear()
}

// mirror makes the remote state follow the spool from now on: a new run's
// state replaces any other, and the bytes and named files the remote may
// lack are uploaded.
func mirror(spool *pipeline.Spool, r *remoteState, fresh bool, have int64) error {
	if fresh {
		if err := r.clear(); err != nil {
			return err
		}
		have = 0
	}
	spool.Mirror(r, have)
	names, err := spool.Files()
	if err != nil {
		return err
	}
	for _, name := range names {
		if name == stateFile {
			continue
		}
		b, err := spool.ReadFile(name)
		if err != nil {
			return err
		}
		if err := r.WriteFile(name, b); err != nil {
			return err
		}
	}
	// sync.json last: the remote state is named only once whole.
	if b, err := spool.ReadFile(stateFile); err == nil {
		if err := r.WriteFile(stateFile, b); err != nil {
			return err
		}
	}
	return spool.Sync()
}
