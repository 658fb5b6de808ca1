package dataset

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
)

// runStores runs the same assertions against a new dataset in a local
// folder and in a bucket of a real S3-compatible server (versitygw with its
// posix backend on loopback, started for the subtest and stopped after it).
func runStores(t *testing.T, fn func(t *testing.T, target string)) {
	t.Run("folder", func(t *testing.T) { fn(t, filepath.Join(t.TempDir(), "dataset")) })
	t.Run("s3", func(t *testing.T) {
		bucket, _ := datasettest.StartS3(t)
		fn(t, bucket+"/reports/tickets")
	})
}

func openStore(t *testing.T, target string) *Store {
	t.Helper()
	s, err := Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A metadata version is created only if absent: of two writers of one
// version exactly one wins, on a folder (a link) and on S3 (If-None-Match).
func TestCreateIsExclusive(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		ctx := context.Background()
		key := "tickets/metadata/v7.metadata.json"
		if err := s.create(ctx, key, []byte(`{"first":1}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.create(ctx, key, []byte(`{"second":2}`)); !errors.Is(err, errExists) {
			t.Fatalf("second create: %v, want errExists", err)
		}
		if data, _ := s.read(ctx, key); string(data) != `{"first":1}` {
			t.Fatalf("the version holds %q", data)
		}
	})
}
