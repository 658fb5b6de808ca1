package dataset

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver: no cgo for users

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// CatalogName is the catalog_name of the rows the tool writes: a reader
// opens the catalog by this name (PyIceberg's SqlCatalog("udesk", ...),
// Spark's spark.sql.catalog.udesk).
const CatalogName = "udesk"

// DefaultNamespace is the namespace of the three tables unless told.
const DefaultNamespace = "udesk"

// CatalogConfig names a SQL catalog: URL is postgres://USER@HOST[:PORT]/DB
// (no password in it: Password carries it) or sqlite:PATH. The zero value
// is no catalog: the folder layout.
type CatalogConfig struct {
	URL       string
	Password  string
	Namespace string // DefaultNamespace when empty
}

// OpenOption is a way to open a dataset (Open).
type OpenOption func(ctx context.Context, s *Store) error

// WithCatalog opens the dataset's tables through the SQL catalog c (the
// JDBC catalog layout Spark, Trino, Flink, PyIceberg and iceberg-go share:
// tables iceberg_tables and iceberg_namespace_properties); commits swap the
// table's metadata_location by a conditional UPDATE. Failures to reach or
// log in to the catalog are *pipeline.ConfigError naming the catalog
// without its password. A zero c changes nothing.
func WithCatalog(c CatalogConfig) OpenOption {
	return func(ctx context.Context, s *Store) error {
		if c.URL == "" {
			return nil
		}
		cat, err := openSQLCatalog(ctx, c)
		if err != nil {
			return err
		}
		s.sql = cat
		return nil
	}
}

// sqlCatalog is one connection pool to a SQL catalog. The tool reads and
// writes its rows itself (the same queries as iceberg-go's catalog/sql)
// so that every metadata file goes through the dataset's own file IO (the
// AWS_* configuration, path-style for S3-compatible servers, fsynced
// local files): catalog/sql loads its IO from catalog properties, which
// would mean storing S3 secrets in the catalog.
type sqlCatalog struct {
	db        *sql.DB
	postgres  bool   // $n placeholders
	where     string // the catalog URL, any password masked
	namespace string
}

// MaskCatalog is a catalog URL fit for messages: any password replaced.
func MaskCatalog(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return u.Redacted()
		}
	}
	return raw
}

func openSQLCatalog(ctx context.Context, c CatalogConfig) (*sqlCatalog, error) {
	cat := &sqlCatalog{where: MaskCatalog(c.URL), namespace: c.Namespace}
	if cat.namespace == "" {
		cat.namespace = DefaultNamespace
	}
	fail := func(what string, err error) error {
		return &pipeline.ConfigError{Err: fmt.Errorf("catalog %s: %s: %w", cat.where, what, err)}
	}
	switch {
	case strings.HasPrefix(c.URL, "postgres://"), strings.HasPrefix(c.URL, "postgresql://"):
		u, err := url.Parse(c.URL)
		if err != nil {
			// url's errors quote the URL whole, password and all.
			return nil, &pipeline.ConfigError{Err: fmt.Errorf("catalog %s: not a URL (want postgres://USER@HOST[:PORT]/DB)", cat.where)}
		}
		if _, has := u.User.Password(); has {
			return nil, &pipeline.ConfigError{Err: fmt.Errorf("catalog %s: a password in the URL is refused (a command line is visible to every user of the machine): put it in PGPASSWORD or a --catalog-password-file", cat.where)}
		}
		cfg, err := pgx.ParseConfig(c.URL)
		if err != nil {
			return nil, fail("parse", err)
		}
		if c.Password != "" {
			cfg.Password = c.Password
		}
		cat.db, cat.postgres = stdlib.OpenDB(*cfg), true
	case strings.HasPrefix(c.URL, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(c.URL, "sqlite:"), "//")
		if path == "" {
			return nil, &pipeline.ConfigError{Err: fmt.Errorf("catalog %s: no file (want sqlite:PATH)", c.URL)}
		}
		// A busy timeout: two syncs of other datasets may share the file.
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
		if err != nil {
			return nil, fail("open", err)
		}
		cat.db = db
	default:
		return nil, &pipeline.ConfigError{Err: fmt.Errorf("catalog %s: want postgres://USER@HOST/DB or sqlite:PATH", cat.where)}
	}
	if err := cat.db.PingContext(ctx); err != nil {
		cat.db.Close()
		return nil, fail("connect", err)
	}
	if err := cat.init(ctx); err != nil {
		cat.db.Close()
		return nil, fail("creating the catalog tables and namespace "+cat.namespace, err)
	}
	return cat, nil
}

// q rewrites ? placeholders as PostgreSQL's $n.
func (c *sqlCatalog) q(query string) string {
	if !c.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// init creates the JDBC catalog's tables (the V1 layout, with
// iceberg_type) when missing, and the namespace.
func (c *sqlCatalog) init(ctx context.Context) error {
	for _, ddl := range []string{
		`CREATE TABLE IF NOT EXISTS iceberg_tables (catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL,
			table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000),
			iceberg_type VARCHAR(5), PRIMARY KEY (catalog_name, table_namespace, table_name))`,
		`CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL,
			property_key VARCHAR(255) NOT NULL, property_value VARCHAR(1000), PRIMARY KEY (catalog_name, namespace, property_key))`,
	} {
		if _, err := c.db.ExecContext(ctx, ddl); err != nil {
			return err
		}
	}
	_, err := c.db.ExecContext(ctx, c.q(`INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value)
		VALUES (?, ?, 'exists', 'true') ON CONFLICT DO NOTHING`), CatalogName, c.namespace)
	return err
}

func (c *sqlCatalog) Close() error { return c.db.Close() }

// metadataLocation is the table's registered metadata file, "" when the
// catalog does not know the table.
func (c *sqlCatalog) metadataLocation(ctx context.Context, name string) (string, error) {
	var loc sql.NullString
	err := c.db.QueryRowContext(ctx, c.q(`SELECT metadata_location FROM iceberg_tables
		WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)`),
		CatalogName, c.namespace, name).Scan(&loc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("catalog %s: loading %s.%s: %w", c.where, c.namespace, name, err)
	}
	return loc.String, nil
}

// sqlTable is one table of the dataset registered in a SQL catalog.
type sqlTable struct {
	s    *Store
	c    *sqlCatalog
	name string
}

func (t *sqlTable) ident() string { return t.c.namespace + "." + t.name }

// load returns the table as last committed, nil when the catalog does
// not know it. A dataset that has folder tables the catalog does not know,
// or a catalog table outside the dataset, is refused: going on would fork
// the table into two histories.
func (t *sqlTable) load(ctx context.Context) (*table.Table, error) {
	loc, err := t.c.metadataLocation(ctx, t.name)
	if err != nil {
		return nil, err
	}
	if loc == "" {
		folder := &folderCatalog{s: t.s, name: t.name}
		if v, data, err := folder.latest(ctx); err != nil {
			return nil, err
		} else if data != nil {
			return nil, &pipeline.ConfigError{Err: fmt.Errorf("dataset %s: table %s has folder metadata (v%d.metadata.json) that catalog %s does not register as %s: sync it without --catalog, or into a new dataset with the catalog",
				t.s.where, t.name, v, t.c.where, t.ident())}
		}
		return nil, nil
	}
	key := t.s.key(loc)
	if key == "" || !strings.HasPrefix(key, t.name+"/") {
		return nil, &pipeline.ConfigError{Err: fmt.Errorf("catalog %s registers %s at %s, not in dataset %s: use the dataset it names, or another --namespace",
			t.c.where, t.ident(), loc, t.s.where)}
	}
	data, err := t.s.read(ctx, key)
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, fmt.Errorf("catalog %s registers %s at %s, which is missing", t.c.where, t.ident(), loc)
	}
	meta, err := table.ParseMetadataBytes(data)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %s: %w", t.s.where, key, err)
	}
	fio := t.s.fio
	return table.New([]string{t.c.namespace, t.name}, meta, loc,
		func(context.Context) (icebergio.IO, error) { return fio, nil }, t), nil
}

// LoadTable is table.CatalogIO's.
func (t *sqlTable) LoadTable(ctx context.Context, _ table.Identifier) (*table.Table, error) {
	tbl, err := t.load(ctx)
	if err == nil && tbl == nil {
		err = fmt.Errorf("catalog %s: table %s does not exist", t.c.where, t.ident())
	}
	return tbl, err
}

// CommitTable is table.CatalogIO's: the next metadata file is written,
// then the catalog row swapped to it only if it still names the version
// this commit built on. A lost swap is a *ConflictError (as the folder
// catalog's), and the orphan metadata file is harmless: no one names it.
func (t *sqlTable) CommitTable(ctx context.Context, _ table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	// A run that lost its lease says so rather than find the table moved.
	if err := t.s.guarded(); err != nil {
		return nil, "", err
	}
	cur, err := t.load(ctx)
	if err != nil {
		return nil, "", err
	}
	if cur == nil {
		return nil, "", fmt.Errorf("catalog %s: table %s does not exist", t.c.where, t.ident())
	}
	for _, r := range reqs {
		if err := r.Validate(cur.Metadata()); err != nil {
			return nil, "", &ConflictError{Table: t.name, Err: err}
		}
	}
	updated, err := table.UpdateTableMetadata(cur.Metadata(), updates, cur.MetadataLocation())
	if err != nil {
		return nil, "", fmt.Errorf("dataset %s: table %s: %w", t.s.where, t.name, err)
	}
	loc, err := t.writeMetadata(ctx, sequenceOf(cur.MetadataLocation())+1, updated)
	if err != nil {
		return nil, "", err
	}
	t.s.at("metadata-created:" + t.name)
	if err := t.s.guarded(); err != nil {
		return nil, "", err
	}
	res, err := t.c.db.ExecContext(ctx, t.c.q(`UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?, iceberg_type = 'TABLE'
		WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND metadata_location = ?`),
		loc, cur.MetadataLocation(), CatalogName, t.c.namespace, t.name, cur.MetadataLocation())
	if err != nil {
		return nil, "", fmt.Errorf("catalog %s: committing %s: %w", t.c.where, t.ident(), err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, "", fmt.Errorf("catalog %s: committing %s: %w", t.c.where, t.ident(), err)
	} else if n == 0 {
		return nil, "", &ConflictError{Table: t.name, Err: fmt.Errorf("catalog %s: %s no longer at %s", t.c.where, t.ident(), cur.MetadataLocation())}
	}
	return updated, loc, nil
}

// writeMetadata creates TABLE/metadata/NNNNN-UUID.metadata.json (the
// naming of Iceberg's catalogs) and returns its location.
func (t *sqlTable) writeMetadata(ctx context.Context, seq int, meta table.Metadata) (string, error) {
	data, err := json.Marshal(meta)
	if err != nil {
		return "", err
	}
	key := fmt.Sprintf("%s/metadata/%05d-%s.metadata.json", t.name, seq, uuid.New())
	if err := t.s.create(ctx, key, data); err != nil {
		return "", err
	}
	return t.s.location(key), nil
}

// sequenceOf is the NNNNN of a metadata file's name, 0 when it has none.
func sequenceOf(loc string) int {
	base := loc[strings.LastIndexByte(loc, '/')+1:]
	n, _ := strconv.Atoi(strings.SplitN(base, "-", 2)[0])
	return n
}

// create registers the table (its first metadata file) unless the catalog
// has it; a writer that lost the race to create it loads the winner's.
func (t *sqlTable) create(ctx context.Context, sc *iceberg.Schema, props iceberg.Properties) (*table.Table, error) {
	if tbl, err := t.load(ctx); err != nil || tbl != nil {
		return tbl, err
	}
	props = maps(props, iceberg.Properties{table.PropertyFormatVersion: "2"})
	meta, err := table.NewMetadata(sc, iceberg.UnpartitionedSpec, table.UnsortedSortOrder, t.s.location(t.name), props)
	if err != nil {
		return nil, fmt.Errorf("dataset: table %s: %w", t.name, err)
	}
	loc, err := t.writeMetadata(ctx, 0, meta)
	if err != nil {
		return nil, err
	}
	_, insErr := t.c.db.ExecContext(ctx, t.c.q(`INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location, iceberg_type)
		VALUES (?, ?, ?, ?, 'TABLE')`), CatalogName, t.c.namespace, t.name, loc)
	tbl, err := t.load(ctx)
	if err != nil {
		return nil, err
	}
	if tbl == nil {
		return nil, fmt.Errorf("catalog %s: registering %s: %w", t.c.where, t.ident(), insErr)
	}
	return tbl, nil
}

// repairHint: a catalog table has no version hint.
func (t *sqlTable) repairHint(context.Context) error { return nil }
