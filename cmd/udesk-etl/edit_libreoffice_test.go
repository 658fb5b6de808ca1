package main

import (
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// soffice converts file into format ("csv:...", "xlsx") in outDir with a
// private LibreOffice profile.
func soffice(t *testing.T, bin, file, format, outDir string) string {
	t.Helper()
	profile := "file://" + filepath.Join(t.TempDir(), "profile")
	cmd := exec.Command(bin, "-env:UserInstallation="+profile, "--headless", "--convert-to", format, "--outdir", outDir, file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("soffice --convert-to %s %s: %v\n%s", format, file, err, out)
	}
	ext := format
	if i := strings.IndexByte(format, ':'); i >= 0 {
		ext = format[:i]
	}
	got := filepath.Join(outDir, strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))+"."+ext)
	if _, err := os.Stat(got); err != nil {
		t.Fatalf("soffice wrote no %s:\n%s", got, out)
	}
	return got
}

func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(b), "\uFEFF")))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// TestEditWorkbookInLibreOffice: an exported workbook opens in LibreOffice
// with every value and date as exported (headless conversion to CSV), keeps
// its drop-downs when LibreOffice saves it again, and that re-saved workbook
// still imports as "nothing changed". Needs LibreOffice (soffice); `make
// check-libreoffice` installs it and runs this test.
func TestEditWorkbookInLibreOffice(t *testing.T) {
	bin, err := exec.LookPath("soffice")
	if err != nil {
		t.Skip("soffice (LibreOffice) is not installed: `make check-libreoffice` installs it and runs this test")
	}
	sim := newSim(t, udesktest.Options{Tickets: 30, Seed: 3})
	env := simEnv(sim)
	dir := t.TempDir()
	book, text := filepath.Join(dir, "edit.xlsx"), filepath.Join(dir, "edit.csv")
	if code, _, stderr := runCLI(t, env, "export", "-o", book, "-o", text, "--quiet"); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}

	// Values and dates as LibreOffice shows them = the CSV export's, whose
	// timestamps carry their offset where a spreadsheet cell shows none.
	lo := readCSVFile(t, soffice(t, bin, book, "csv:Text - txt - csv (StarCalc):44,34,76,1", filepath.Join(dir, "lo")))
	want := readCSVFile(t, text)
	if len(lo) != len(want) || !slices.Equal(lo[0], want[0]) {
		t.Fatalf("LibreOffice shows %d rows with header %q; the export has %d with %q", len(lo), lo[0], len(want), want[0])
	}
	for i := 1; i < len(want); i++ {
		for j, w := range want[i] {
			w = strings.TrimSuffix(w, " +0800")
			if g := at(lo[i], j); g != w {
				t.Errorf("row %d column %q: LibreOffice shows %q, the export wrote %q", i+1, want[0][j], g, w)
			}
		}
	}

	// Saved again by LibreOffice: the drop-downs are still there...
	resaved := soffice(t, bin, book, "xlsx", filepath.Join(dir, "resaved"))
	f, err := excelize.OpenFile(resaved)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dvs, err := f.GetDataValidations(f.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"priority", "status", "下拉列表字段", "单选框字段", "多选框字段"} {
		col, _ := excelize.ColumnNumberToName(slices.Index(want[0], name) + 1)
		found := false
		for _, dv := range dvs {
			if dv.Type == "list" && strings.HasPrefix(dv.Sqref, col+"2:") {
				found = true
			}
		}
		if !found {
			t.Errorf("column %s (%s) lost its drop-down list in LibreOffice (validations: %d)", col, name, len(dvs))
		}
	}
	// ...and its dates, hidden originals and catalog: nothing changed.
	code, stdout, stderr := runCLI(t, env, "import", "--update", "-i", resaved, "--dry-run", "--quiet")
	if code != 0 || !strings.Contains(stdout, "0 rows changed (0 fields), 30 unchanged") {
		t.Errorf("the workbook saved by LibreOffice does not import as unchanged: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func at(row []string, i int) string {
	if i < len(row) {
		return row[i]
	}
	return ""
}
