package ingest_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

func newSim(t *testing.T, opts udesktest.Options) *udesktest.Server {
	t.Helper()
	s, err := udesktest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newClient is the real client of sim, without a request budget.
func newClient(t testing.TB, sim *udesktest.Server) *udesk.Client {
	t.Helper()
	c, err := udesk.NewClient(udesk.Config{BaseURL: sim.URL(), Signer: udesk.NewMD5Signer(sim.Secret())})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readCSVLoose(t *testing.T, b []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func writeXLSXTest(t testing.TB, path string, recs [][]string) {
	t.Helper()
	f := excelize.NewFile()
	for r, rec := range recs {
		for c, v := range rec {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
			f.SetCellStr("Sheet1", cell, v)
		}
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

func writeJSONLTest(t testing.TB, path string, recs [][]string) {
	t.Helper()
	var b bytes.Buffer
	for _, rec := range recs[1:] {
		// Keys in header order: encoding/json sorts map keys, which is fine
		// for a reader that matches columns by name.
		m := map[string]string{}
		for i, h := range recs[0] {
			if rec[i] != "" {
				m[h] = rec[i]
			}
		}
		line, _ := json.Marshal(m)
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeGBKTest(t testing.TB, path string, recs [][]string) {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.WriteAll(recs)
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, gbk, 0o644); err != nil {
		t.Fatal(err)
	}
}
