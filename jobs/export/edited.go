package export

// An export over a file it wrote that was edited since (a workbook someone
// changed for a round trip) keeps the edited file beside the new one
// instead of replacing it: the edits would be lost, and they may not have
// been imported yet. An export records the size and modification time of
// each .xlsx and .csv output it commits; a file there that no longer matches
// them was changed.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
)

// editable says whether out is a file a user edits for a round trip.
func editable(out string) bool {
	ext := strings.ToLower(filepath.Ext(out))
	return out != "-" && (ext == ".xlsx" || ext == ".csv")
}

// writtenStampPath is where an export records what it left at out.
func writtenStampPath(out string) string {
	return filepath.Join(filepath.Dir(out), ".udesk-etl", filepath.Base(out)+".written")
}

// fileStamp is a file's size and modification time, "" when it is missing.
func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return fmt.Sprintf("%d %d", fi.Size(), fi.ModTime().UnixNano())
}

// stampOutputs records what the export left at each editable output.
func stampOutputs(outs []string) error {
	for _, out := range outs {
		if !editable(out) {
			continue
		}
		path := writtenStampPath(out)
		if err := pipeline.MakeStateDir(filepath.Dir(path)); err != nil {
			return err
		}
		if err := pipeline.WriteFileAtomic(path, []byte(fileStamp(out)+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// editedSinceExport says whether out holds a file an export wrote there
// that was changed since.
func editedSinceExport(out string) bool {
	b, err := os.ReadFile(writtenStampPath(out))
	if err != nil || !editable(out) {
		return false
	}
	now := fileStamp(out)
	return now != "" && now != strings.TrimSpace(string(b))
}

// keptOutput is an edited file an export kept beside its new output.
type keptOutput struct{ out, kept string }

// keepEdited keeps the edited file at out under a name beside it
// (edit.edited-20261207-183000.xlsx), with, for a CSV, its original rows,
// so that import --update of the kept file still sends only its edits. The
// file at out is left in place for the commit to replace.
func keepEdited(out string, now time.Time) (string, error) {
	ext := filepath.Ext(out)
	base := strings.TrimSuffix(out, ext) + ".edited-" + now.Format("20060102-150405")
	kept := base + ext
	for n := 2; ; n++ {
		if _, err := os.Lstat(kept); errors.Is(err, os.ErrNotExist) {
			break
		}
		kept = fmt.Sprintf("%s-%d%s", base, n, ext)
	}
	if err := linkOrCopy(out, kept); err != nil {
		return "", fmt.Errorf("%s was edited since it was exported; keeping it as %s: %w", out, kept, err)
	}
	if strings.EqualFold(ext, ".csv") {
		for _, p := range [][2]string{{sinks.CSVOriginalsPath(out), sinks.CSVOriginalsPath(kept)}, {sinks.CSVCatalogPath(out), sinks.CSVCatalogPath(kept)}} {
			if _, err := os.Stat(p[0]); err != nil {
				continue
			}
			if err := linkOrCopy(p[0], p[1]); err != nil {
				return "", fmt.Errorf("%s was edited since it was exported; keeping its original rows for %s: %w", out, kept, err)
			}
		}
	}
	return kept, nil
}

// linkOrCopy makes to a hard link of from, or a copy where links fail.
func linkOrCopy(from, to string) error {
	if err := os.Link(from, to); err == nil {
		return nil
	}
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		os.Remove(to)
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(to)
		return err
	}
	return dst.Close()
}
