// Package dataset keeps a sync dataset: Hive-partitioned Parquet runs
// (tickets/, changes/, field_history/ by run=RUN), the column contract
// _schema.json and the list of published runs _runs.jsonl, in a local folder
// or an S3-compatible bucket through one code path (gocloud.dev/blob).
//
// A run is committed by writing its objects first, then its manifest
// _runs/RUN.json (the commit point: the run's record and the contract it was
// written with), then _schema.json and _runs.jsonl. Object storage has no
// rename, so readers trust only runs that have a manifest; a run folder
// without one is a crashed run's leftovers and is removed by the next commit.
package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
)

// Store is an opened dataset: a local folder or a bucket prefix.
type Store struct {
	bucket *blob.Bucket
	where  string // the dataset as the user named it, for messages
	dir    string // the local folder, "" for a bucket
}

// Open opens the dataset at target: "s3://BUCKET/PREFIX" for S3-compatible
// object storage (credentials, region and endpoint from the standard AWS
// variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
// AWS_ENDPOINT_URL), anything else a local folder, created when missing.
func Open(ctx context.Context, target string) (*Store, error) {
	if rest, ok := strings.CutPrefix(target, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, fmt.Errorf("dataset %s: no bucket name (want s3://BUCKET/PREFIX)", target)
		}
		b, err := openS3(ctx, bucket)
		if err != nil {
			return nil, fmt.Errorf("dataset %s: %w", target, err)
		}
		if prefix = strings.Trim(prefix, "/"); prefix != "" {
			b = blob.PrefixedBucket(b, prefix+"/")
		}
		return &Store{bucket: b, where: target}, nil
	}
	if target == "" {
		return nil, errors.New("dataset: no folder or s3:// URL given")
	}
	dir, err := filepath.Abs(target)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", target, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", target, err)
	}
	// Temp files beside their objects, so that the rename stays within the
	// dataset's file system; no ".attrs" sidecars beside the Parquet files.
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", target, err)
	}
	return &Store{bucket: b, where: target, dir: dir}, nil
}

// openS3 builds the S3 client from the standard AWS configuration. A custom
// endpoint (MinIO, OSS, COS, a test server) gets path-style addressing, a
// default region, and checksums only where an operation requires them, which
// is what S3-compatible servers accept.
func openS3(ctx context.Context, bucket string) (*blob.Bucket, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	custom := cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != ""
	if custom {
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
		cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	if cfg.Region == "" {
		return nil, errors.New("no region: set AWS_REGION")
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = custom })
	return s3blob.OpenBucket(ctx, client, bucket, &s3blob.Options{RequestChecksumCalculation: cfg.RequestChecksumCalculation})
}

// String names the dataset as it was opened.
func (s *Store) String() string { return s.where }

// Close releases the store.
func (s *Store) Close() error { return s.bucket.Close() }

// Object keys of the layout.
const (
	schemaKey    = "_schema.json"
	runsKey      = "_runs.jsonl"
	manifestsDir = "_runs/"
	snapshotPart = "part-00000.parquet"
)

// Tables of a run, each a Hive-style partitioned folder.
const (
	TableTickets = "tickets"
	TableChanges = "changes"
	TableHistory = "field_history"
)

var tables = []string{TableTickets, TableChanges, TableHistory}

func partKey(table, run string) string { return runPrefix(table, run) + snapshotPart }
func runPrefix(table, run string) string {
	return table + "/run=" + run + "/"
}
func manifestKey(run string) string { return manifestsDir + run + ".json" }

// read returns an object's content, or nil and no error when it does not exist.
func (s *Store) read(ctx context.Context, key string) ([]byte, error) {
	data, err := s.bucket.ReadAll(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %s: read %s: %w", s.where, key, err)
	}
	return data, nil
}

// write puts an object whole: a reader sees the old content or the new one.
func (s *Store) write(ctx context.Context, key string, data []byte) error {
	if err := s.bucket.WriteAll(ctx, key, data, nil); err != nil {
		return fmt.Errorf("dataset %s: write %s: %w", s.where, key, err)
	}
	return nil
}

// upload copies a local Parquet file to an object.
func (s *Store) upload(ctx context.Context, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := s.bucket.Upload(ctx, key, f, &blob.WriterOptions{ContentType: "application/vnd.apache.parquet"}); err != nil {
		return fmt.Errorf("dataset %s: upload %s: %w", s.where, key, err)
	}
	return nil
}

// download copies an object to a local file (Parquet readers need random
// access, which a local file gives cheaply).
func (s *Store) download(ctx context.Context, key, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = s.bucket.Download(ctx, key, f, nil)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dataset %s: download %s: %w", s.where, key, err)
	}
	return nil
}

// list returns the keys under prefix.
func (s *Store) list(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return keys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("dataset %s: list %s: %w", s.where, prefix, err)
		}
		if !obj.IsDir {
			keys = append(keys, obj.Key)
		}
	}
}

// runFolders returns the runs that have a folder in a table, published or not.
func (s *Store) runFolders(ctx context.Context, table string) ([]string, error) {
	var runs []string
	it := s.bucket.List(&blob.ListOptions{Prefix: table + "/run=", Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return runs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("dataset %s: list %s: %w", s.where, table, err)
		}
		if obj.IsDir {
			runs = append(runs, strings.TrimSuffix(strings.TrimPrefix(obj.Key, table+"/run="), "/"))
		}
	}
}

// removeRun deletes a run's folder in a table. In a local folder the emptied
// folder goes too (a bucket has no folders to leave behind).
func (s *Store) removeRun(ctx context.Context, table, run string) error {
	prefix := runPrefix(table, run)
	keys, err := s.list(ctx, prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.bucket.Delete(ctx, k); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return fmt.Errorf("dataset %s: delete %s: %w", s.where, k, err)
		}
	}
	if s.dir != "" {
		if err := os.RemoveAll(filepath.Join(s.dir, filepath.FromSlash(prefix))); err != nil {
			return fmt.Errorf("dataset %s: %w", s.where, err)
		}
	}
	return nil
}

// removeStrayTemps removes the temp files a process killed while writing
// _runs.jsonl, _schema.json or a manifest leaves in a local folder (the
// folder driver writes "KEY.<hex>.tmp" and renames it). Temp files in run
// folders go with their unpublished run.
func (s *Store) removeStrayTemps() error {
	if s.dir == "" {
		return nil
	}
	for _, pattern := range []string{"*.tmp", filepath.Join(manifestsDir, "*.tmp")} {
		stray, err := filepath.Glob(filepath.Join(s.dir, pattern))
		if err != nil {
			return err
		}
		for _, f := range stray {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("dataset %s: %w", s.where, err)
			}
		}
	}
	return nil
}
