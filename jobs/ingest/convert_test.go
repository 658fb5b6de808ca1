package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

func TestConvert(t *testing.T) {
	dir := t.TempDir()
	fields, err := udesk.ReadFields(bytes.NewReader(udesktest.FieldsReply()))
	if err != nil {
		t.Fatal(err)
	}
	cat := mapping.NewCatalog(fields)
	in := ingesttest.CopySample(t, "create-bad-rows.csv", dir)
	for _, ext := range []string{".csv", ".jsonl"} {
		out := filepath.Join(dir, "mapped"+ext)
		// A saved catalog: convert works offline.
		rep, err := ingest.Convert(context.Background(), ingest.Input{Path: in}, ingest.ConvertOptions{Op: mapping.Create, Catalog: cat, Output: out})
		if err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		errsFile := filepath.Join(dir, "mapped.errors.csv")
		if rep.Read != 9 || rep.Written != 4 || rep.Failed != 5 || strings.Join(rep.Outputs, ",") != out+","+errsFile {
			t.Fatalf("%s: report %+v", ext, rep)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if ext == ".jsonl" {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			var first map[string]any
			json.Unmarshal([]byte(lines[0]), &first)
			if len(lines) != 4 || first["subject"] != "打印机无法连接" || first["status"] != "打开" || first["priority"] != "高" ||
				first["SelectField_1"] != "0" || first["SelectField_3"] != "0,3" || first["email"] != "li.lei@example.com" {
				t.Fatalf("jsonl: %d lines, first %v", len(lines), first)
			}
			continue
		}
		recs := readCSVLoose(t, b)
		if strings.Join(recs[0][:7], ",") != "subject,content,email,cellphone,customer_token,status,priority" || len(recs) != 5 {
			t.Fatalf("csv header %v, %d records", recs[0], len(recs))
		}
		// English names in the input become the Chinese names a create takes.
		if recs[2][0] != "退款进度查询" || recs[2][5] != "解决中" || recs[2][6] != "紧急" {
			t.Fatalf("row 2: %v", recs[2])
		}
		errs := ingesttest.ReadCSV(t, errsFile)
		if len(errs) != 6 || errs[1][len(errs[0])-2] != ingest.CodeInvalid {
			t.Fatalf("errors file: %v", errs)
		}
	}
	// The update form: English names, select labels.
	upd := filepath.Join(dir, "u.csv")
	ingesttest.WriteCSV(t, upd, [][]string{{"id", "status", "priority", "下拉列表字段"}, {"5", "已解决", "高", "1"}})
	out := filepath.Join(dir, "u.out.jsonl")
	rep, err := ingest.Convert(context.Background(), ingest.Input{Path: upd, SelectValues: "indexes"}, ingest.ConvertOptions{Op: mapping.Update, Catalog: cat, Output: out})
	if err != nil || rep.Failed != 0 || strings.Join(rep.Outputs, ",") != out {
		t.Fatalf("convert update: %v %+v", err, rep)
	}
	// Nothing rejected: no errors file.
	if _, err := os.Stat(filepath.Join(dir, "u.out.errors.csv")); !os.IsNotExist(err) {
		t.Fatalf("an errors file for a convert that rejected nothing (%v)", err)
	}
	b, _ := os.ReadFile(out)
	var row map[string]any
	json.Unmarshal(b, &row)
	if row["id"] != "5" || row["status"] != "resolved" || row["priority"] != "high" || row["SelectField_1"] != "下拉选项2" {
		t.Fatalf("update row: %v", row)
	}
}
