package dataset

import (
	"context"
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
