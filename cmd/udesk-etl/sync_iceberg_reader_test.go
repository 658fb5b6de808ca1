package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	bin "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
)

// The tests' own Iceberg reader: it follows the spec from version-hint.text
// to the metadata file, the manifest list and the manifests (Avro, decoded
// here) to the data files, read with the project's Parquet reader. It shares
// no code with iceberg-go (what the tool writes with) nor with icebird (the
// JavaScript reader), and it is strict where a reader may be lenient: every
// file a snapshot names must exist and hold the rows its manifest says, and
// a table of this dataset has no delete files.

// iceSnapshot is one snapshot of an Iceberg table.
type iceSnapshot struct {
	ID           string            `json:"snapshot-id"`
	Parent       string            `json:"parent-snapshot-id"`
	Sequence     int64             `json:"sequence-number"`
	Summary      map[string]string `json:"summary"`
	ManifestList string            `json:"manifest-list"`
}

// Run is the sync run that committed the snapshot.
func (s iceSnapshot) Run() string { return s.Summary["udesk.run"] }

// iceTable is a table's metadata as of its version-hint.text.
type iceTable struct {
	Version   int // the N of the metadata file version-hint.text names
	Location  string
	Current   string // current snapshot id, "" when none
	Snapshots []iceSnapshot
	Columns   []string          // the current schema's column names
	Types     map[string]string // column -> primitive type ("" for a nested one)
	buckets   map[string]string
}

type iceMetadata struct {
	FormatVersion   int           `json:"format-version"`
	Location        string        `json:"location"`
	CurrentSnapshot json.Number   `json:"current-snapshot-id"`
	CurrentSchema   int           `json:"current-schema-id"`
	Snapshots       []iceSnapshot `json:"snapshots"`
	Schemas         []struct {
		ID     int `json:"schema-id"`
		Fields []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
		} `json:"fields"`
	} `json:"schemas"`
}

// UnmarshalJSON reads snapshot ids, numbers in the file, as decimal strings.
func (s *iceSnapshot) UnmarshalJSON(b []byte) error {
	type plain iceSnapshot
	var raw struct {
		plain
		ID     json.Number `json:"snapshot-id"`
		Parent json.Number `json:"parent-snapshot-id"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&raw); err != nil {
		return err
	}
	*s = iceSnapshot(raw.plain)
	s.ID, s.Parent = raw.ID.String(), raw.Parent.String()
	return nil
}

// readIceTable reads the metadata of the table in dir (a local folder: the
// dataset's, or the S3 test server's storage of it). buckets maps a bucket
// name to the local folder that holds its objects, for s3:// paths.
func readIceTable(t testing.TB, dir string, buckets map[string]string) *iceTable {
	t.Helper()
	hint, err := os.ReadFile(filepath.Join(dir, "metadata", "version-hint.text"))
	if err != nil {
		t.Fatalf("table %s: %v", dir, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(hint)))
	if err != nil {
		t.Fatalf("table %s: version-hint.text holds %q", dir, hint)
	}
	file := filepath.Join(dir, "metadata", fmt.Sprintf("v%d.metadata.json", n))
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("table %s: version-hint.text names v%d: %v", dir, n, err)
	}
	var m iceMetadata
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if m.FormatVersion != 2 {
		t.Fatalf("%s: format-version %d, want 2", file, m.FormatVersion)
	}
	tb := &iceTable{Version: n, Location: m.Location, Snapshots: m.Snapshots, Types: map[string]string{}, buckets: buckets}
	if cur := m.CurrentSnapshot.String(); cur != "" && cur != "-1" {
		tb.Current = cur
	}
	for _, s := range m.Schemas {
		if s.ID == m.CurrentSchema {
			for _, f := range s.Fields {
				tb.Columns = append(tb.Columns, f.Name)
				var typ string
				_ = json.Unmarshal(f.Type, &typ) // a nested type is an object: ""
				tb.Types[f.Name] = typ
			}
		}
	}
	if tb.Columns == nil {
		t.Fatalf("%s: no schema %d", file, m.CurrentSchema)
	}
	if tb.Current != "" && tb.snapshot(tb.Current) == nil {
		t.Fatalf("%s: current snapshot %s is not among its snapshots", file, tb.Current)
	}
	return tb
}

func (tb *iceTable) snapshot(id string) *iceSnapshot {
	for i := range tb.Snapshots {
		if tb.Snapshots[i].ID == id {
			return &tb.Snapshots[i]
		}
	}
	return nil
}

// CurrentSnapshot is the table's current snapshot, nil when it has none.
func (tb *iceTable) CurrentSnapshot() *iceSnapshot { return tb.snapshot(tb.Current) }

// Runs lists the udesk.run of the snapshots from the current one back
// through its ancestors, oldest first.
func (tb *iceTable) Runs() []string {
	var runs []string
	for s := tb.CurrentSnapshot(); s != nil; s = tb.snapshot(s.Parent) {
		runs = append([]string{s.Run()}, runs...)
	}
	return runs
}

// RunSnapshot is the snapshot of the current lineage that run committed,
// nil when none did; a run with two snapshots fails the test.
func (tb *iceTable) RunSnapshot(t testing.TB, run string) *iceSnapshot {
	t.Helper()
	var found *iceSnapshot
	for s := tb.CurrentSnapshot(); s != nil; s = tb.snapshot(s.Parent) {
		if s.Run() == run {
			if found != nil {
				t.Fatalf("table %s: run %s committed twice (snapshots %s and %s)", tb.Location, run, s.ID, found.ID)
			}
			found = s
		}
	}
	return found
}

// Rows reads every row of snapshot s (nil: an empty table), checking each
// data file against its manifest entry and the total against the summary.
// Cells are as the project's Parquet reader gives them (the CSV export's
// text forms); a column the file lacks (added later) is "".
func (tb *iceTable) Rows(t testing.TB, s *iceSnapshot) []map[string]string {
	t.Helper()
	if s == nil {
		return nil
	}
	var rows []map[string]string
	for _, f := range tb.DataFiles(t, s) {
		_, got := datasettest.ReadTable(t, f.path)
		if int64(len(got)) != f.records {
			t.Fatalf("snapshot %s: %s holds %d rows, its manifest says %d", s.ID, f.path, len(got), f.records)
		}
		for _, r := range got {
			row := make(map[string]string, len(tb.Columns))
			for _, c := range tb.Columns {
				row[c] = r[c]
			}
			rows = append(rows, row)
		}
	}
	if total := s.Summary["total-records"]; total != "" && total != strconv.Itoa(len(rows)) {
		t.Fatalf("snapshot %s: %d rows, its summary's total-records %s", s.ID, len(rows), total)
	}
	return rows
}

type iceDataFile struct {
	path    string // local
	records int64
	size    int64
}

// DataFiles lists the live data files of snapshot s, failing the test on a
// delete file, a missing file or one whose size is not its manifest's.
func (tb *iceTable) DataFiles(t testing.TB, s *iceSnapshot) []iceDataFile {
	t.Helper()
	var files []iceDataFile
	for _, m := range readAvro(t, tb.local(t, s.ManifestList)) {
		if content, _ := m["content"].(int64); content != 0 {
			t.Fatalf("snapshot %s: a delete manifest %v (the dataset writes copy-on-write)", s.ID, m["manifest_path"])
		}
		for _, e := range readAvro(t, tb.local(t, m["manifest_path"].(string))) {
			if e["status"].(int64) == 2 { // deleted from the table by this snapshot
				continue
			}
			df := e["data_file"].(map[string]any)
			if c, _ := df["content"].(int64); c != 0 {
				t.Fatalf("snapshot %s: a delete file %v", s.ID, df["file_path"])
			}
			f := iceDataFile{path: tb.local(t, df["file_path"].(string)), records: df["record_count"].(int64),
				size: df["file_size_in_bytes"].(int64)}
			st, err := os.Stat(f.path)
			if err != nil {
				t.Fatalf("snapshot %s: its data file is missing: %v", s.ID, err)
			}
			if st.Size() != f.size {
				t.Fatalf("snapshot %s: %s has %d bytes, its manifest says %d", s.ID, f.path, st.Size(), f.size)
			}
			files = append(files, f)
		}
	}
	return files
}

// local maps a path in the metadata to a local file.
func (tb *iceTable) local(t testing.TB, p string) string {
	t.Helper()
	u, err := url.Parse(p)
	if err != nil {
		t.Fatalf("path %q: %v", p, err)
	}
	switch u.Scheme {
	case "", "file":
		return u.Path
	case "s3", "s3a":
		if dir, ok := tb.buckets[u.Host]; ok {
			return filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(u.Path, "/")))
		}
	}
	t.Fatalf("path %q: no local folder for it", p)
	return ""
}

// readAvro decodes an Avro object container file (null or deflate codec)
// into one map per record.
func readAvro(t testing.TB, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := decodeAvroFile(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

func decodeAvroFile(b []byte) ([]map[string]any, error) {
	if !bytes.HasPrefix(b, []byte("Obj\x01")) {
		return nil, errors.New("not an Avro container file")
	}
	r := &avroReader{r: bufio.NewReader(bytes.NewReader(b[4:]))}
	meta := map[string]string{}
	for {
		n := r.long()
		if n == 0 {
			break
		}
		if n < 0 {
			n = -n
			r.long()
		}
		for range n {
			k := string(r.bytes())
			meta[k] = string(r.bytes())
		}
	}
	sync := r.fixed(16)
	if r.err != nil {
		return nil, r.err
	}
	var schema any
	if err := json.Unmarshal([]byte(meta["avro.schema"]), &schema); err != nil {
		return nil, fmt.Errorf("avro.schema: %v", err)
	}
	codec := meta["avro.codec"]
	named := map[string]any{}
	var out []map[string]any
	for {
		if _, err := r.r.Peek(1); err == io.EOF {
			break
		}
		count, size := r.long(), r.long()
		data := r.fixed(int(size))
		if r.err != nil {
			return nil, r.err
		}
		if got := r.fixed(16); !bytes.Equal(got, sync) {
			return nil, errors.New("a block's sync marker is not the header's")
		}
		switch codec {
		case "", "null":
		case "deflate":
			inflated, err := io.ReadAll(flate.NewReader(bytes.NewReader(data)))
			if err != nil {
				return nil, fmt.Errorf("deflate block: %v", err)
			}
			data = inflated
		default:
			return nil, fmt.Errorf("codec %q", codec)
		}
		br := &avroReader{r: bufio.NewReader(bytes.NewReader(data))}
		for range count {
			v := br.value(schema, named)
			if br.err != nil {
				return nil, br.err
			}
			rec, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("a record is %T", v)
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

type avroReader struct {
	r   *bufio.Reader
	err error
}

func (a *avroReader) long() int64 {
	if a.err != nil {
		return 0
	}
	u, err := bin.ReadUvarint(a.r)
	if err != nil {
		a.err = err
		return 0
	}
	return int64(u>>1) ^ -int64(u&1)
}

func (a *avroReader) fixed(n int) []byte {
	if a.err != nil || n < 0 {
		if n < 0 {
			a.err = errors.New("negative length")
		}
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(a.r, b); err != nil {
		a.err = err
	}
	return b
}

func (a *avroReader) bytes() []byte { return a.fixed(int(a.long())) }

// value decodes one value of schema; named holds the named types seen.
func (a *avroReader) value(schema any, named map[string]any) any {
	if a.err != nil {
		return nil
	}
	switch s := schema.(type) {
	case []any: // a union
		i := a.long()
		if i < 0 || int(i) >= len(s) {
			a.err = fmt.Errorf("union branch %d of %d", i, len(s))
			return nil
		}
		return a.value(s[i], named)
	case string:
		switch s {
		case "null":
			return nil
		case "boolean":
			return a.fixed(1)[0] != 0
		case "int", "long":
			return a.long()
		case "float":
			return float64(math.Float32frombits(bin.LittleEndian.Uint32(a.fixed(4))))
		case "double":
			return math.Float64frombits(bin.LittleEndian.Uint64(a.fixed(8)))
		case "bytes":
			return a.bytes()
		case "string":
			return string(a.bytes())
		}
		if def, ok := named[s]; ok {
			return a.value(def, named)
		}
		a.err = fmt.Errorf("unknown type %q", s)
		return nil
	case map[string]any:
		if name, ok := s["name"].(string); ok {
			named[name] = s
		}
		switch s["type"] {
		case "record":
			rec := map[string]any{}
			for _, f := range s["fields"].([]any) {
				f := f.(map[string]any)
				rec[f["name"].(string)] = a.value(f["type"], named)
			}
			return rec
		case "array", "map":
			var list []any
			m := map[string]any{}
			for {
				n := a.long()
				if n == 0 || a.err != nil {
					break
				}
				if n < 0 {
					n = -n
					a.long()
				}
				for range n {
					if s["type"] == "array" {
						list = append(list, a.value(s["items"], named))
					} else {
						k := string(a.bytes())
						m[k] = a.value(s["values"], named)
					}
				}
			}
			if s["type"] == "array" {
				return list
			}
			return m
		case "fixed":
			return a.fixed(int(s["size"].(float64)))
		case "enum":
			return s["symbols"].([]any)[a.long()]
		default: // a primitive with attributes (logicalType, field-id)
			return a.value(s["type"], named)
		}
	}
	a.err = fmt.Errorf("schema %v", schema)
	return nil
}
