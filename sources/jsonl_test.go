package sources

import (
	"reflect"
	"strings"
	"testing"
)

func TestJSONL(t *testing.T) {
	data := "\ufeff" + `{"id":1,"subject":"工单","tags":["a","b"],"extra":null}` + "\n" +
		"\n" + // blank line 2
		`{"id":2.50,"user":{"name":"张三", "age":3},"subject":"多行\r\n文本","ok":true}` + "\n" +
		`{"id":3,` + "\n" + // malformed, line 4
		`[1,2]` + "\n" + // not an object, line 5
		`{"id":4}` // line 6, no final newline
	p := writeFile(t, "in.jsonl", []byte(data))
	r, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if want := []string{"id", "subject", "tags", "extra", "user", "ok"}; !reflect.DeepEqual(r.Header(), want) {
		t.Fatalf("header %q, want %q", r.Header(), want)
	}
	recs, errs := readAll(t, r)
	want := [][]string{
		{"1", "工单", "a,b", "", "", ""},
		{"2.50", "多行\r\n文本", "", "", `{"name":"张三","age":3}`, "true"},
		{"4", "", "", "", "", ""},
	}
	rows := []int{1, 3, 6}
	if len(recs) != len(want) {
		t.Fatalf("records %+v", recs)
	}
	for i := range want {
		if !reflect.DeepEqual(recs[i].Cells, want[i]) || recs[i].Pos.Row != rows[i] {
			t.Errorf("record %d = %+v, want row %d %q", i, recs[i], rows[i], want[i])
		}
	}
	if len(errs) != 2 || errs[0].Pos.Row != 4 || errs[1].Pos.Row != 5 || !strings.Contains(errs[1].Error(), "not a JSON object") {
		t.Errorf("row errors %v, want lines 4 and 5", errs)
	}
}

func TestJSONLOpenErrors(t *testing.T) {
	for data, want := range map[string]string{
		"":                          "empty file",
		"[1]\n\"x\"\n":              "no header",
		`{"Subject":1,"subject":2}`: `duplicate column names "Subject" (column 1) and "subject" (column 2)`,
	} {
		p := writeFile(t, "x.jsonl", []byte(data))
		if _, err := Open(p, OpenOptions{}); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: %v, want %q", data, err, want)
		}
	}
}
