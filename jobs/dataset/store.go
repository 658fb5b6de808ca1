// Package dataset keeps a sync dataset: three Apache Iceberg tables (format
// version 2) named tickets, changes and field_history, in the folder layout
// that needs no catalog server (TABLE/metadata/vN.metadata.json,
// TABLE/metadata/version-hint.text, TABLE/metadata/*.avro, TABLE/data/*.parquet),
// in a local folder or an S3-compatible bucket through one code path
// (gocloud.dev/blob for the metadata, iceberg-go for data and manifests).
//
// A table moves from one snapshot to the next when its next metadata file is
// created, which succeeds only if that file does not exist yet (an exclusive
// link on a folder, If-None-Match: * on S3): two writers never both win, and a
// kill leaves each table at a committed snapshot (see catalog.go).
package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/io/gocloud/blobfs"
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
	bucket *blob.Bucket // the dataset's root (prefixed on S3)
	where  string       // the dataset as the user named it, for messages
	dir    string       // the local folder, "" for a bucket
	root   string       // the dataset's location in table metadata: a path or s3://BUCKET/PREFIX
	fio    icebergio.IO // data files and manifests, by location
	raw    *blob.Bucket // the whole bucket (S3), closed with the store
	sql    *sqlCatalog  // the SQL catalog the tables are registered in (WithCatalog), nil: the folder layout
	pause  func(point string)
	guard  func() error // Options.Guard during a commit

	// The S3 client, bucket and key prefix ("" or "PREFIX/"), for the
	// conditional writes gocloud does not offer (If-Match, ETags).
	s3       *s3.Client
	s3Bucket string
	s3Prefix string
}

// Open opens the dataset at target: "s3://BUCKET/PREFIX" for S3-compatible
// object storage (credentials, region and endpoint from the standard AWS
// variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
// AWS_ENDPOINT_URL), anything else a local folder, created when missing.
func Open(ctx context.Context, target string, opts ...OpenOption) (*Store, error) {
	s, err := open(ctx, target)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := o(ctx, s); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func open(ctx context.Context, target string) (*Store, error) {
	if rest, ok := strings.CutPrefix(target, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, fmt.Errorf("dataset %s: no bucket name (want s3://BUCKET/PREFIX)", target)
		}
		raw, client, err := openS3(ctx, bucket)
		if err != nil {
			return nil, fmt.Errorf("dataset %s: %w", target, err)
		}
		b, root, keyPrefix := raw, "s3://"+bucket, ""
		if prefix = strings.Trim(prefix, "/"); prefix != "" {
			// PrefixedBucket takes over (closes) the bucket it is given.
			whole, _, err := openS3(ctx, bucket)
			if err != nil {
				raw.Close()
				return nil, fmt.Errorf("dataset %s: %w", target, err)
			}
			b = blob.PrefixedBucket(whole, prefix+"/")
			root += "/" + prefix
			keyPrefix = prefix + "/"
		}
		fio := blobfs.New(context.Background(), raw, blobfs.DefaultObjectLocationExtractor(bucket, "s3", "s3a"))
		return &Store{bucket: b, where: target, root: root, fio: keepOpen{fio}, raw: raw,
			s3: client, s3Bucket: bucket, s3Prefix: keyPrefix}, nil
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
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", target, err)
	}
	return &Store{bucket: b, where: target, dir: dir, root: filepath.ToSlash(dir), fio: syncedFS{}}, nil
}

// openS3 builds the S3 client from the standard AWS configuration. A custom
// endpoint (MinIO, OSS, COS, a test server) gets path-style addressing, a
// default region, and checksums only where an operation requires them, which
// is what S3-compatible servers accept.
func openS3(ctx context.Context, bucket string) (*blob.Bucket, *s3.Client, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, nil, err
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
		return nil, nil, errors.New("no region: set AWS_REGION")
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = custom })
	b, err := s3blob.OpenBucket(ctx, client, bucket, &s3blob.Options{RequestChecksumCalculation: cfg.RequestChecksumCalculation})
	return b, client, err
}

// String names the dataset as it was opened.
func (s *Store) String() string { return s.where }

// Close releases the store.
func (s *Store) Close() error {
	err := s.bucket.Close()
	if s.raw != nil && s.raw != s.bucket {
		err = errors.Join(err, s.raw.Close())
	}
	if s.sql != nil {
		err = errors.Join(err, s.sql.Close())
	}
	return err
}

// location is the table-metadata location of a dataset key.
func (s *Store) location(key string) string { return s.root + "/" + key }

// key is the dataset key of a location inside the dataset, "" for one
// outside it.
func (s *Store) key(location string) string {
	k, ok := strings.CutPrefix(location, s.root+"/")
	if !ok {
		if rest, isFile := strings.CutPrefix(location, "file://"); isFile {
			k, ok = strings.CutPrefix(rest, s.root+"/")
		}
	}
	if !ok {
		return ""
	}
	return k
}

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
	if s.dir != "" {
		return writeLocal(filepath.Join(s.dir, filepath.FromSlash(key)), data, false)
	}
	if err := s.bucket.WriteAll(ctx, key, data, nil); err != nil {
		return fmt.Errorf("dataset %s: write %s: %w", s.where, key, err)
	}
	return nil
}

// errExists is a create-if-absent that found the object there.
var errExists = errors.New("already exists")

// create writes an object only if it does not exist yet, whole and durable
// before it is visible; errExists when another writer was first.
func (s *Store) create(ctx context.Context, key string, data []byte) error {
	if s.dir != "" {
		err := writeLocal(filepath.Join(s.dir, filepath.FromSlash(key)), data, true)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("dataset %s: %s: %w", s.where, key, errExists)
		}
		return err
	}
	err := s.bucket.WriteAll(ctx, key, data, &blob.WriterOptions{IfNotExist: true, ContentType: "application/json"})
	if gcerrors.Code(err) == gcerrors.FailedPrecondition || gcerrors.Code(err) == gcerrors.AlreadyExists {
		return fmt.Errorf("dataset %s: %s: %w", s.where, key, errExists)
	}
	if err != nil {
		return fmt.Errorf("dataset %s: write %s: %w", s.where, key, err)
	}
	return nil
}

// writeLocal writes a file through a temp file beside it, fsynced, then
// published by a link (exclusive: fails with os.ErrExist when path exists)
// or a rename (replacing), and the folder fsynced.
func writeLocal(path string, data []byte, exclusive bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*"+tempSuffix)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if exclusive {
		err = os.Link(tmp, path)
	} else {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// tempSuffix ends the names of the temp files the tool writes, so that it
// removes only its own.
const tempSuffix = ".udesk-tmp"

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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

// remove deletes objects; one already gone is no error.
func (s *Store) remove(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := s.bucket.Delete(ctx, k); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return fmt.Errorf("dataset %s: delete %s: %w", s.where, k, err)
		}
	}
	return nil
}

// keepOpen is the bucket's file IO for iceberg-go, which closes the IO it
// is given after some operations: the store closes the bucket, once.
type keepOpen struct{ *blobfs.FileIO }

func (keepOpen) Close() error { return nil }

// syncedFS is the local file system for iceberg-go's data files and
// manifests, fsyncing each file it creates before the file is closed: a
// commit that names them must never outlive them in a crash.
type syncedFS struct{ icebergio.LocalFS }

func (f syncedFS) Create(name string) (icebergio.FileWriter, error) {
	w, err := f.LocalFS.Create(name)
	if err != nil {
		return nil, err
	}
	file, ok := w.(*os.File)
	if !ok {
		return w, nil
	}
	return syncOnClose{file}, nil
}

func (f syncedFS) WriteFile(name string, p []byte) error {
	w, err := f.Create(name)
	if err != nil {
		return err
	}
	if _, err := w.Write(p); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

type syncOnClose struct{ *os.File }

func (f syncOnClose) Close() error {
	err := f.File.Sync()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(f.File.Name()))
	}
	return err
}

// errChanged is a conditional replace or delete that found the object
// changed (or gone) since it was read.
var errChanged = errors.New("changed since it was read")

// statusOf is the HTTP status of an S3 error, 0 for none.
func statusOf(err error) int {
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) {
		return resp.HTTPStatusCode()
	}
	return 0
}

// readTagged returns an object's content and its ETag ("" on a folder),
// nil and no error when it does not exist.
func (s *Store) readTagged(ctx context.Context, key string) ([]byte, string, error) {
	if s.s3 == nil {
		data, err := s.read(ctx, key)
		return data, "", err
	}
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.s3Bucket, Key: aws.String(s.s3Prefix + key)})
	if statusOf(err) == http.StatusNotFound {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("dataset %s: read %s: %w", s.where, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("dataset %s: read %s: %w", s.where, key, err)
	}
	return data, aws.ToString(out.ETag), nil
}

// createTagged is create returning the new object's ETag ("" on a folder).
func (s *Store) createTagged(ctx context.Context, key string, data []byte) (string, error) {
	if s.s3 == nil {
		return "", s.create(ctx, key, data)
	}
	out, err := s.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.s3Bucket, Key: aws.String(s.s3Prefix + key),
		Body: bytes.NewReader(data), IfNoneMatch: aws.String("*"), ContentType: aws.String("application/json")})
	if code := statusOf(err); code == http.StatusPreconditionFailed || code == http.StatusConflict {
		return "", fmt.Errorf("dataset %s: %s: %w", s.where, key, errExists)
	}
	if err != nil {
		return "", fmt.Errorf("dataset %s: write %s: %w", s.where, key, err)
	}
	return aws.ToString(out.ETag), nil
}

// replaceIf replaces an object only if its ETag is still etag (S3 If-Match)
// and returns the new ETag; errChanged when another writer changed or
// removed it. A folder has no ETags: the caller serializes the
// read-check-replace (lockLease) and the file is replaced atomically.
func (s *Store) replaceIf(ctx context.Context, key string, data []byte, etag string) (string, error) {
	if s.s3 == nil {
		return "", s.write(ctx, key, data)
	}
	out, err := s.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.s3Bucket, Key: aws.String(s.s3Prefix + key),
		Body: bytes.NewReader(data), IfMatch: aws.String(etag), ContentType: aws.String("application/json")})
	switch statusOf(err) {
	case http.StatusPreconditionFailed, http.StatusConflict, http.StatusNotFound:
		return "", fmt.Errorf("dataset %s: %s: %w", s.where, key, errChanged)
	}
	if err != nil {
		return "", fmt.Errorf("dataset %s: write %s: %w", s.where, key, err)
	}
	return aws.ToString(out.ETag), nil
}

// removeIf deletes an object only if its ETag is still etag (S3 If-Match;
// on a folder the caller serializes as for replaceIf); one already gone is
// no error.
func (s *Store) removeIf(ctx context.Context, key, etag string) error {
	if s.s3 == nil {
		return s.remove(ctx, key)
	}
	_, err := s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.s3Bucket, Key: aws.String(s.s3Prefix + key), IfMatch: aws.String(etag)})
	switch statusOf(err) {
	case http.StatusNotFound:
		return nil
	case http.StatusPreconditionFailed, http.StatusConflict:
		return fmt.Errorf("dataset %s: %s: %w", s.where, key, errChanged)
	}
	if err != nil {
		return fmt.Errorf("dataset %s: delete %s: %w", s.where, key, err)
	}
	return nil
}
