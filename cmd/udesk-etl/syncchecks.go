package main

import (
	"errors"
	"io/fs"
	"os"
	"strings"
)

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
