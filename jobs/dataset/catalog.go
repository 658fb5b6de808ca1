package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// folderCatalog is the catalog of one table kept in its own folder, the
// layout DuckDB's iceberg_scan, Spark's Hadoop catalog and static-table
// readers find without a catalog server: metadata/vN.metadata.json, and
// metadata/version-hint.text naming N.
//
// A commit creates v(N+1).metadata.json only if it does not exist (Store.create:
// an exclusive link on a folder, If-None-Match: * on S3), so of two writers
// that built on vN exactly one wins; then it rewrites the hint. A kill
// between the two leaves the hint one behind, which every reader here
// handles by looking for the next versions (and DuckDB and Spark read vN, a
// committed snapshot, until the next commit writes the hint).
//
// It is one tableCatalog; a SQL catalog (sqlcatalog.go) is the other.
type folderCatalog struct {
	s    *Store
	name string // the table's folder under the dataset
}

// tableCatalog is where one table's metadata is kept and committed: what
// the Store's commits and reads ask of a catalog. table.CatalogIO is what
// iceberg-go's transactions commit through.
type tableCatalog interface {
	table.CatalogIO
	// load returns the table as last committed, nil when it does not exist.
	load(ctx context.Context) (*table.Table, error)
	// create makes the table unless it exists, and returns it.
	create(ctx context.Context, sc *iceberg.Schema, props iceberg.Properties) (*table.Table, error)
	// repairHint points a folder table's version-hint.text at its newest
	// version; other catalogs have no hint.
	repairHint(ctx context.Context) error
}

// ConflictError is a commit that lost to another writer: the table moved on
// since this run read it. Nothing of this commit is visible.
type ConflictError struct {
	Table string
	Err   error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("table %s was committed by another sync while this run worked (%v): this run is not published; run again to start a new run", e.Table, e.Err)
}

func (e *ConflictError) Unwrap() error { return e.Err }

func (c *folderCatalog) metaKey(v int) string {
	return c.name + "/metadata/v" + strconv.Itoa(v) + ".metadata.json"
}
func (c *folderCatalog) hintKey() string { return c.name + "/metadata/version-hint.text" }

var versionFile = regexp.MustCompile(`^v([0-9]+)\.metadata\.json$`)

// latest returns the table's current version and its metadata file; 0 and
// nil when the table does not exist.
func (c *folderCatalog) latest(ctx context.Context) (int, []byte, error) {
	v, data, _, err := c.find(ctx)
	return v, data, err
}

// repairHint points version-hint.text at the newest version when a writer
// stopped before it did, so that the readers that go by the hint alone
// (DuckDB, Spark) see the committed snapshot.
func (c *folderCatalog) repairHint(ctx context.Context) error {
	v, data, hinted, err := c.find(ctx)
	if err != nil || data == nil || v == hinted {
		return err
	}
	return c.s.write(ctx, c.hintKey(), []byte(strconv.Itoa(v)))
}

// find returns the newest version, its metadata file and the version the
// hint names (0: none).
func (c *folderCatalog) find(ctx context.Context) (int, []byte, int, error) {
	v := 0
	if hint, err := c.s.read(ctx, c.hintKey()); err != nil {
		return 0, nil, 0, err
	} else if n, err := strconv.Atoi(strings.TrimSpace(string(hint))); err == nil && n > 0 {
		v = n
	}
	hinted := v
	if v == 0 {
		// No hint (or an unreadable one): the highest version listed.
		keys, err := c.s.list(ctx, c.name+"/metadata/")
		if err != nil {
			return 0, nil, 0, err
		}
		catalogs := false
		for _, k := range keys {
			base := k[strings.LastIndexByte(k, '/')+1:]
			if m := versionFile.FindStringSubmatch(base); m != nil {
				n, _ := strconv.Atoi(m[1])
				v = max(v, n)
			} else if strings.HasSuffix(base, ".metadata.json") {
				catalogs = true
			}
		}
		if v == 0 && catalogs {
			// Only a catalog knows which of these is current: going on
			// would start a second history beside the catalog's.
			return 0, nil, 0, &pipeline.ConfigError{Err: fmt.Errorf("dataset %s: table %s was committed through a SQL catalog (metadata/NNNNN-….metadata.json, no vN.metadata.json): run with the same --catalog and --namespace", c.s.where, c.name)}
		}
		if v == 0 {
			return 0, nil, 0, nil
		}
	}
	data, err := c.s.read(ctx, c.metaKey(v))
	if err != nil {
		return 0, nil, 0, err
	}
	if data == nil {
		return 0, nil, 0, fmt.Errorf("dataset %s: %s names version %d, whose metadata file is missing", c.s.where, c.hintKey(), v)
	}
	// The hint lags when a writer stopped between the metadata file and
	// the hint: the newest version is the last one present.
	for {
		next, err := c.s.read(ctx, c.metaKey(v+1))
		if err != nil {
			return 0, nil, 0, err
		}
		if next == nil {
			return v, data, hinted, nil
		}
		v, data = v+1, next
	}
}

func (c *folderCatalog) load(ctx context.Context) (*table.Table, error) {
	t, _, err := c.loadVersion(ctx)
	return t, err
}

func (c *folderCatalog) loadVersion(ctx context.Context) (*table.Table, int, error) {
	v, data, err := c.latest(ctx)
	if err != nil || data == nil {
		return nil, 0, err
	}
	meta, err := table.ParseMetadataBytes(data)
	if err != nil {
		return nil, 0, fmt.Errorf("dataset %s: %s: %w", c.s.where, c.metaKey(v), err)
	}
	return c.table(meta, v), v, nil
}

func (c *folderCatalog) table(meta table.Metadata, v int) *table.Table {
	fio := c.s.fio
	return table.New([]string{c.name}, meta, c.s.location(c.metaKey(v)),
		func(context.Context) (icebergio.IO, error) { return fio, nil }, c)
}

// LoadTable is table.CatalogIO's: the table as last committed.
func (c *folderCatalog) LoadTable(ctx context.Context, _ table.Identifier) (*table.Table, error) {
	t, err := c.load(ctx)
	if err == nil && t == nil {
		err = fmt.Errorf("dataset %s: table %s does not exist", c.s.where, c.name)
	}
	return t, err
}

// CommitTable is table.CatalogIO's: the updates applied to the current
// metadata, committed as the next version if no other writer was first.
// Its conflicts are *ConflictError, not table.ErrCommitFailed, so that
// iceberg-go does not replay a run's commit on a table another run moved.
func (c *folderCatalog) CommitTable(ctx context.Context, _ table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	// A run that lost its lease says so rather than find the table moved.
	if err := c.s.guarded(); err != nil {
		return nil, "", err
	}
	cur, v, err := c.loadVersion(ctx)
	if err != nil {
		return nil, "", err
	}
	if cur == nil {
		return nil, "", fmt.Errorf("dataset %s: table %s does not exist", c.s.where, c.name)
	}
	for _, r := range reqs {
		if err := r.Validate(cur.Metadata()); err != nil {
			return nil, "", &ConflictError{Table: c.name, Err: err}
		}
	}
	updated, err := table.UpdateTableMetadata(cur.Metadata(), updates, cur.MetadataLocation())
	if err != nil {
		return nil, "", fmt.Errorf("dataset %s: table %s: %w", c.s.where, c.name, err)
	}
	if err := c.publish(ctx, v+1, updated); err != nil {
		return nil, "", err
	}
	return updated, c.s.location(c.metaKey(v + 1)), nil
}

// guarded calls the commit's Guard, if any.
func (s *Store) guarded() error {
	if s.guard != nil {
		return s.guard()
	}
	return nil
}

// publish creates version v (if absent), then points the hint at it.
func (c *folderCatalog) publish(ctx context.Context, v int, meta table.Metadata) error {
	data, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := c.s.guarded(); err != nil {
		return err
	}
	if err := c.s.create(ctx, c.metaKey(v), data); errors.Is(err, errExists) {
		return &ConflictError{Table: c.name, Err: err}
	} else if err != nil {
		return err
	}
	c.s.at("metadata-created:" + c.name)
	// The commit is done; a hint that could not be written lags, which
	// readers here handle and the next commit repairs.
	_ = c.s.write(ctx, c.hintKey(), []byte(strconv.Itoa(v)))
	return nil
}

// create makes the table (version 1) unless it exists; a writer that lost
// the race to create it loads the winner's.
func (c *folderCatalog) create(ctx context.Context, sc *iceberg.Schema, props iceberg.Properties) (*table.Table, error) {
	if t, err := c.load(ctx); err != nil || t != nil {
		return t, err
	}
	props = maps(props, iceberg.Properties{table.PropertyFormatVersion: "2"})
	meta, err := table.NewMetadata(sc, iceberg.UnpartitionedSpec, table.UnsortedSortOrder, c.s.location(c.name), props)
	if err != nil {
		return nil, fmt.Errorf("dataset: table %s: %w", c.name, err)
	}
	if err := c.publish(ctx, 1, meta); err != nil && !errors.As(err, new(*ConflictError)) {
		return nil, err
	}
	return c.load(ctx)
}

func maps(a, b iceberg.Properties) iceberg.Properties {
	out := iceberg.Properties{}
	for _, m := range []iceberg.Properties{a, b} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// snapshotsOf returns a table's snapshots in commit order.
func snapshotsOf(t *table.Table) []table.Snapshot {
	if t == nil {
		return nil
	}
	snaps := slices.Clone(t.Metadata().Snapshots())
	slices.SortStableFunc(snaps, func(a, b table.Snapshot) int {
		if a.SequenceNumber != b.SequenceNumber {
			return int(a.SequenceNumber - b.SequenceNumber)
		}
		return int(a.TimestampMs - b.TimestampMs)
	})
	return snaps
}
