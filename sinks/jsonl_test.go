package sinks

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// readJSONLine decodes one line keeping its keys' order.
func readJSONLine(t *testing.T, line []byte) (keys []string, vals []any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("line %q: want an object, got %v %v", line, tok, err)
	}
	for d.More() {
		k, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		vals = append(vals, v)
	}
	return keys, vals
}

func TestJSONLRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	w, err := NewJSONLWriter(path, fileTestSchema())
	if err != nil {
		t.Fatal(err)
	}
	rows := fileTestRows()
	rows[0].Values[colSubject] = "打印机\"坏了\"\\ \x01 \u2028 \xff"
	if err := w.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := w.(pipeline.StatsReporter).Stats(); got != (pipeline.WriterStats{Rows: 4, RawValues: 2}) {
		t.Errorf("Stats = %+v, want 4 rows, 2 raw values", got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{json.Number("1"), "打印机\"坏了\"\\ \x01 \u2028 \ufffd", "第一行\r\n第二行\n第三行", "open", "选项 A0", []any{"a", "b"},
			"2024-03-05T09:07:30+08:00", "2024-02-29", json.Number("1.1"), json.Number("-42"), "09:30:00"},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		// Raw values in place as strings; no formula escaping in JSON.
		{json.Number("3"), "=SUM(A1:A2)", "-5", "@cmd", nil, []any{}, nil, "2023-02-30", json.Number("0.3"), "12abc", nil},
		{json.Number("4"), "'quoted", "\ttab", "+1", nil, []any{"=x"}, "1999-12-31T23:59:59+08:00", "1970-01-01",
			json.Number("1000000000000000000000"), json.Number("9007199254740993"), nil},
	}
	var names []string
	for _, c := range fileTestSchema().Columns {
		names = append(names, c.Name)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	i := 0
	for ; sc.Scan(); i++ {
		if i >= len(want) {
			t.Fatalf("more than %d lines", len(want))
		}
		keys, vals := readJSONLine(t, sc.Bytes())
		if !reflect.DeepEqual(keys, names) {
			t.Errorf("line %d keys %q, want %q in schema order", i+1, keys, names)
		}
		for j := range want[i] {
			if !reflect.DeepEqual(vals[j], want[i][j]) {
				t.Errorf("line %d %s = %#v, want %#v", i+1, names[j], vals[j], want[i][j])
			}
		}
	}
	if i != len(want) {
		t.Errorf("read %d lines, want %d", i, len(want))
	}
	if !bytes.Contains(b, []byte(`\u2028`)) || !bytes.Contains(b, []byte(`\u0001`)) {
		t.Errorf("U+2028 or a control character not escaped: %s", b)
	}
}

func TestJSONLStreamWriter(t *testing.T) {
	var out bytes.Buffer
	w, err := NewJSONLStreamWriter(&out, fileTestSchema())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRows(fileTestRows()[:1]); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("%d bytes reached the stream before Commit, want them buffered", out.Len())
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), `{"id":1,"subject":"打印机坏了",`) || !strings.HasSuffix(out.String(), "}\n") {
		t.Errorf("stream got %q", out.String())
	}

	out.Reset()
	w, _ = NewJSONLStreamWriter(&out, fileTestSchema())
	_ = w.WriteRows(fileTestRows())
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("Abort let %d buffered bytes through", out.Len())
	}
}
