package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// icebird, the JavaScript Iceberg reader of testdata/icebird, is installed
// from npm once per version into the user's cache folder.
var (
	icebirdOnce    sync.Once
	icebirdModules string
	icebirdSkip    string
	icebirdErr     error
)

// icebirdInstall returns the node_modules folder icebird is installed in,
// installing it the first time. The test skips when node or npm is absent
// or under -short (the install needs the npm registry).
func icebirdInstall(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the icebird reader is installed from npm: not under -short")
	}
	icebirdOnce.Do(func() {
		for _, tool := range []string{"node", "npm"} {
			if _, err := exec.LookPath(tool); err != nil {
				icebirdSkip = tool + " is not installed: the icebird (JavaScript) Iceberg reader needs node and npm"
				return
			}
		}
		pkg, err := os.ReadFile(filepath.Join("testdata", "icebird", "package.json"))
		if err != nil {
			icebirdErr = err
			return
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		sum := sha256.Sum256(pkg)
		dir := filepath.Join(cache, "udesk-etl-tests", "icebird-"+hex.EncodeToString(sum[:6]))
		modules := filepath.Join(dir, "node_modules")
		if _, err := os.Stat(filepath.Join(modules, "icebird", "package.json")); err == nil {
			icebirdModules = modules
			return
		}
		// Install into a fresh folder, then move it in place, so that a
		// killed install is never taken for a complete one.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			icebirdErr = err
			return
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
		if err != nil {
			icebirdErr = err
			return
		}
		defer os.RemoveAll(tmp)
		if err := os.WriteFile(filepath.Join(tmp, "package.json"), pkg, 0o644); err != nil {
			icebirdErr = err
			return
		}
		cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--silent")
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			icebirdErr = &installError{err, out}
			return
		}
		if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
			if _, statErr := os.Stat(filepath.Join(modules, "icebird")); statErr != nil {
				icebirdErr = err
				return
			}
		}
		icebirdModules = modules
	})
	if icebirdSkip != "" {
		t.Skip(icebirdSkip)
	}
	if icebirdErr != nil {
		t.Fatalf("installing icebird from npm: %v", icebirdErr)
	}
	return icebirdModules
}

type installError struct {
	err error
	out []byte
}

func (e *installError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// birdTable is a table as icebird read it: its snapshots (by sequence
// number, with their summaries), its columns and its rows, values as JSON.
type birdTable struct {
	Current   *int64 `json:"current"`
	Snapshots []struct {
		Sequence int64             `json:"sequence"`
		Summary  map[string]string `json:"summary"`
	} `json:"snapshots"`
	Columns []string         `json:"columns"`
	Rows    []map[string]any `json:"rows"`
}

// icebirdRead reads tables with icebird: each a table's folder or
// s3://BUCKET/…/TABLE, with "@RUN" to read the snapshot run committed.
// buckets maps a bucket to the local folder holding its objects.
func icebirdRead(t *testing.T, buckets map[string]string, tables ...string) map[string]birdTable {
	t.Helper()
	modules := icebirdInstall(t)
	args := []string{filepath.Join("testdata", "icebird", "read.mjs")}
	for b, dir := range buckets {
		args = append(args, "--bucket", b+"="+dir)
	}
	cmd := exec.Command("node", append(args, tables...)...)
	cmd.Env = append(os.Environ(), "ICEBIRD_MODULES="+modules)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("icebird %v: %v\n%s", tables, err, stderr.String())
	}
	var out map[string]birdTable
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("icebird's output: %v", err)
	}
	return out
}
