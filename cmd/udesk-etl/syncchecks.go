package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// newLocalDataset reports whether target is a local dataset folder that
// does not exist yet or is empty: a first run would create it.
func newLocalDataset(target string) bool {
	if strings.HasPrefix(target, "s3://") {
		return false
	}
	entries, err := os.ReadDir(target)
	return errors.Is(err, fs.ErrNotExist) || err == nil && len(entries) == 0
}

// checkSyncCredentials asks Udesk for the field catalog before a sync that
// would create its dataset folder or writes to a bucket, so that a wrong
// secret or URL leaves no state folder and no empty dataset behind (a
// later run of an existing local dataset finds out in its first request).
func checkSyncCredentials(ctx context.Context, c *udesk.Client, target string) error {
	if !strings.HasPrefix(target, "s3://") && !newLocalDataset(target) {
		return nil
	}
	_, err := c.Fields(ctx)
	return err
}

// checkDatasetExists refuses --status on a local folder that does not
// exist, rather than create it and report 0 runs.
func checkDatasetExists(target string) error {
	if strings.HasPrefix(target, "s3://") {
		return nil
	}
	if _, err := os.Stat(target); errors.Is(err, fs.ErrNotExist) {
		return usagef("no dataset at %s: the folder does not exist (check the path given to --dataset)", target)
	}
	return nil
}
