package dataset

import (
	"context"
	"fmt"
	"io"
	"strings"

	"gocloud.dev/blob"
)

// AsidePrefix starts the keys a job keeps beside the dataset's tables (its
// run's state): no table reads or removes them.
const AsidePrefix = "_udesk/"

// An AsideObject is a key under AsidePrefix and its size.
type AsideObject struct {
	Key  string
	Size int64
}

func asideKey(key string) error {
	if !strings.HasPrefix(key, AsidePrefix) || strings.Contains(key, "..") {
		return fmt.Errorf("dataset: %q is not a key under %s", key, AsidePrefix)
	}
	return nil
}

// ReadAside returns the object at key (under AsidePrefix), nil and no error
// when there is none.
func (s *Store) ReadAside(ctx context.Context, key string) ([]byte, error) {
	if err := asideKey(key); err != nil {
		return nil, err
	}
	return s.read(ctx, key)
}

// WriteAside puts the object at key (under AsidePrefix) whole.
func (s *Store) WriteAside(ctx context.Context, key string, data []byte) error {
	if err := asideKey(key); err != nil {
		return err
	}
	return s.write(ctx, key, data)
}

// ListAside lists the objects under prefix (itself under AsidePrefix),
// ordered by key.
func (s *Store) ListAside(ctx context.Context, prefix string) ([]AsideObject, error) {
	if err := asideKey(prefix); err != nil {
		return nil, err
	}
	var objs []AsideObject
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("dataset %s: list %s: %w", s.where, prefix, err)
		}
		if !obj.IsDir {
			objs = append(objs, AsideObject{Key: obj.Key, Size: obj.Size})
		}
	}
}

// RemoveAside deletes the objects at keys (under AsidePrefix); one already
// gone is no error.
func (s *Store) RemoveAside(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := asideKey(k); err != nil {
			return err
		}
	}
	return s.remove(ctx, keys...)
}
