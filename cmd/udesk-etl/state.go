package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
)

// stateDir names the folder that holds a run's resumable state: a hidden
// .udesk-etl folder beside the run's main file (the first output of an
// export, the input of an import), with one subfolder per distinct command.
// keyParts identify the command (URL, selector, operation, input path...);
// the secret is never one of them.
func stateDir(besideFile, kind string, keyParts ...string) string {
	base := "."
	if besideFile != "" && besideFile != "-" {
		base = filepath.Dir(besideFile)
	}
	h := sha256.New()
	for _, p := range keyParts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	key := hex.EncodeToString(h.Sum(nil))[:12]
	name := kind + "-" + key
	if besideFile != "" && besideFile != "-" {
		stem := strings.TrimSuffix(filepath.Base(besideFile), filepath.Ext(besideFile))
		name = stem + "." + name
	}
	return filepath.Join(base, ".udesk-etl", name)
}

// absPath is the path made absolute for use in a state key, so that the same
// file named two ways resumes the same run.
func absPath(p string) string {
	if p == "" || p == "-" {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// makeStateDir creates the state folder with owner-only permissions.
func makeStateDir(dir string) error {
	return os.MkdirAll(dir, 0o700)
}
