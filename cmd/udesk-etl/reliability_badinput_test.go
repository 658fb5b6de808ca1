package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// relBadInputs is the bad input corpus (testdata/badinput) and what each file
// must give: exit 2 with a one-line error that names the file and says what
// is wrong, or exit 3 with the bad rows in errors.csv and the good rows
// imported.
var relBadInputs = []struct {
	name string
	file string
	args []string
	code int
	// exit 2: the error names this; exit 3: errors.csv names it.
	why *regexp.Regexp
	// exit 3: subjects that must be created, how many rows are rejected and
	// their errors.csv error_code.
	good     []string
	rejected int
	errCode  string
}{
	{"empty file", "empty.csv", nil, exitUsage, regexp.MustCompile(`empty`), nil, 0, ""},
	{"header only", "header-only.csv", nil, exitUsage, regexp.MustCompile(`(?i)no (data )?rows|only a header|empty`), nil, 0, ""},
	{"duplicate headers", "duplicate-headers.csv", nil, exitUsage, regexp.MustCompile(`duplicate column`), nil, 0, ""},
	{"unknown columns", "unknown-columns.csv", nil, exitUsage, regexp.MustCompile(`unknown columns "no_such_field", "客户等级"`), nil, 0, ""},
	{"binary garbage", "binary-garbage.csv", nil, exitUsage, regexp.MustCompile(`column`), nil, 0, ""},
	{"mixed encodings", "mixed-encodings.csv", nil, exitUsage, regexp.MustCompile(`line 3 .*mixes encodings`), nil, 0, ""},
	{"wrong sheet name", "wrong-sheet.xlsx", []string{"--sheet", "Tickets"}, exitUsage, regexp.MustCompile(`no sheet named "Tickets".*"工单"`), nil, 0, ""},
	{"csv named .xlsx", "csv-named.xlsx", nil, exitUsage, regexp.MustCompile(`not an XLSX file`), nil, 0, ""},
	{"html named .xlsx", "html-table.xlsx", nil, exitUsage, regexp.MustCompile(`not an XLSX file`), nil, 0, ""},
	{"truncated xlsx", "truncated.xlsx", nil, exitUsage, regexp.MustCompile(`not an XLSX file|zip`), nil, 0, ""},
	// A row whose cell count differs from the header's, long or short, is
	// rejected: a left-out cell would shift the ones after it.
	{"ragged rows", "ragged-rows.csv", nil, exitRejected, regexp.MustCompile(`^row (3: the row has 5|4: the row has 2) cells but the header has 3 columns$`),
		[]string{"ragged-ok-1", "ragged-ok-2"}, 2, "ragged_row"},
	// A quote never closed leaves where the rows after it start unknown:
	// the whole file is refused, naming the line where the quote opened.
	{"unbalanced quotes", "unbalanced-quotes.csv", nil, exitUsage, regexp.MustCompile(`line 3: a quoted field opens here and is never closed`), nil, 0, ""},
	{"cell over Excel's limit", "too-long-cell.xlsx", nil, exitRejected, regexp.MustCompile(`row 3: .*(32767|limit|long)`),
		[]string{"long-ok-1", "long-ok-2"}, 1, "unreadable_row"},
}

// relMaxRSS bounds the memory of a run on bad input: a small file must not
// cost more than the program's own working set.
const relMaxRSS = 256 << 20

// TestBadInputCorpus imports and converts every file of the bad input corpus
// with the real binary: the right exit code, a clear error, no panic, no
// write for a refused file, the good rows only for a file with bad rows,
// bounded memory and no partial file left anywhere.
func TestBadInputCorpus(t *testing.T) {
	fields, err := filepath.Abs("../../samples/fields.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range relBadInputs {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, udesktest.Options{})
			dir := t.TempDir()
			data, err := os.ReadFile(filepath.Join("testdata", "badinput", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(dir, tc.file)
			if err := os.WriteFile(in, data, 0o644); err != nil {
				t.Fatal(err)
			}
			results := filepath.Join(dir, "results")
			args := append([]string{"import", "--create", "-i", in, "--results", results, "--quiet"}, tc.args...)
			r := relRun(t, dir, relSimEnv(sim), time.Minute, relMaxRSS, args...)
			relCheckBadInput(t, tc.file, r, tc.code, tc.why)
			switch tc.code {
			case exitUsage:
				if n := sim.Requests()[udesktest.EndpointCreate]; n != 0 {
					t.Errorf("%d creates sent for a refused file", n)
				}
				if _, err := os.Stat(results); err == nil {
					t.Errorf("a results folder was written for a refused file")
				}
				if m, _ := filepath.Glob(filepath.Join(dir, ".udesk-etl", "*", "journal.jsonl")); len(m) > 0 {
					t.Errorf("a journal was started for a refused file: %v", m)
				}
			case exitRejected:
				errs := readCSV(t, filepath.Join(results, "errors.csv"))
				if len(errs)-1 != tc.rejected {
					t.Errorf("errors.csv has %d rows, want %d: %v", len(errs)-1, tc.rejected, errs[1:])
				}
				for _, e := range errs[1:] {
					if !tc.why.MatchString(e[len(e)-1]) {
						t.Errorf("errors.csv message %q does not match %q", e[len(e)-1], tc.why)
					}
					if e[len(e)-2] != tc.errCode {
						t.Errorf("errors.csv code %q, want %q", e[len(e)-2], tc.errCode)
					}
				}
				by := ticketsBySubject(sim)
				for _, s := range tc.good {
					if len(by[s]) != 1 {
						t.Errorf("good row %q: %d tickets, want 1", s, len(by[s]))
					}
				}
				if len(sim.Tickets()) != len(tc.good) {
					t.Errorf("%d tickets created, want only the %d good rows", len(sim.Tickets()), len(tc.good))
				}
			}

			// convert maps the same file without the API: a refused file
			// leaves no output at all.
			out := filepath.Join(dir, "converted.csv")
			args = append([]string{"convert", "-i", in, "--fields", fields, "-o", out, "--quiet"}, tc.args...)
			r = relRun(t, dir, nil, time.Minute, relMaxRSS, args...)
			relCheckBadInput(t, tc.file, r, tc.code, tc.why)
			if _, err := os.Stat(out); tc.code == exitUsage && err == nil {
				t.Errorf("convert wrote %s for a refused file", out)
			} else if tc.code == exitRejected && err != nil {
				t.Errorf("convert: %v", err)
			}
			relNoTemps(t, dir)
		})
	}
}

func relCheckBadInput(t *testing.T, file string, r relChild, code int, why *regexp.Regexp) {
	t.Helper()
	relNoPanic(t, file, r.stderr)
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstderr: %s", file, r.code, code, r.stderr)
	}
	if code == exitUsage {
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		last := lines[len(lines)-1]
		if !strings.Contains(r.stderr, file) || !why.MatchString(r.stderr) {
			t.Errorf("%s: the error %q does not name the file and match %q", file, last, why)
		}
	}
}

// The zip bomb: a workbook of about 1 MiB whose sheet expands to 1 GiB (one
// cell of 1 GiB), built here rather than committed.
const (
	relBombSize  = 1 << 30
	relBombChunk = 1 << 20
)

// relXLSXParts are the parts of a minimal one-sheet workbook but its sheet.
var relXLSXParts = [][2]string{
	{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`},
	{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
	{"xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`},
	{"xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`},
}

// relZipBomb writes the zip bomb to path. Its sheet's deflate stream repeats
// one compressed chunk of 1 MiB of "A" (a fresh compressor's output refers to
// nothing before it), so building it compresses 1 MiB, not 1 GiB.
func relZipBomb(t *testing.T, path string) {
	t.Helper()
	head := []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
		`<row r="1"><c r="A1" t="inlineStr"><is><t>subject</t></is></c><c r="B1" t="inlineStr"><is><t>content</t></is></c></row>` +
		`<row r="2"><c r="A2" t="inlineStr"><is><t>bomb</t></is></c><c r="B2" t="inlineStr"><is><t>`)
	tail := []byte(`</t></is></c></row></sheetData></worksheet>`)
	deflate := func(b []byte, final bool) []byte {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		w.Write(b)
		if final {
			w.Close()
		} else {
			w.Flush() // ends on a byte boundary, not the last block
		}
		return buf.Bytes()
	}
	as := bytes.Repeat([]byte("A"), relBombChunk)
	chunk := deflate(as, false)
	n := relBombSize / relBombChunk
	crc := crc32.NewIEEE()
	crc.Write(head)
	for range n {
		crc.Write(as)
	}
	crc.Write(tail)
	var sheet bytes.Buffer
	sheet.Write(deflate(head, false))
	for range n {
		sheet.Write(chunk)
	}
	sheet.Write(deflate(tail, true))

	var file bytes.Buffer
	z := zip.NewWriter(&file)
	for _, p := range relXLSXParts {
		w, _ := z.Create(p[0])
		w.Write([]byte(p[1]))
	}
	w, err := z.CreateRaw(&zip.FileHeader{Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate, CRC32: crc.Sum32(),
		CompressedSize64: uint64(sheet.Len()), UncompressedSize64: uint64(len(head) + n*relBombChunk + len(tail))})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(sheet.Bytes())
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadInputZipBomb: a 1 GiB-expanding workbook is refused (exit 2) or its
// row rejected (exit 3), never read into memory.
func TestBadInputZipBomb(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bomb.xlsx")
	relZipBomb(t, in)
	if fi, _ := os.Stat(in); fi.Size() > 4<<20 {
		t.Fatalf("the bomb is %d bytes; it should be small", fi.Size())
	}
	sim := newSim(t, udesktest.Options{})
	results := filepath.Join(dir, "results")
	r := relRun(t, dir, relSimEnv(sim), time.Minute, relMaxRSS, "import", "--create", "-i", in, "--results", results, "--quiet")
	relNoPanic(t, "bomb.xlsx", r.stderr)
	switch r.code {
	case exitUsage:
		if !strings.Contains(r.stderr, "bomb.xlsx") {
			t.Errorf("the error does not name the file: %s", r.stderr)
		}
	case exitRejected:
		if errs := readCSV(t, filepath.Join(results, "errors.csv")); len(errs) != 2 {
			t.Errorf("errors.csv: %v", errs)
		}
	default:
		t.Fatalf("exit %d, want 2 or 3\nstderr: %s", r.code, r.stderr)
	}
	if n := sim.Requests()[udesktest.EndpointCreate]; n != 0 {
		t.Errorf("%d creates sent from the bomb", n)
	}
	t.Logf("exit %d, max RSS %d MiB: %s", r.code, r.maxRSS>>20, strings.TrimSpace(r.stderr))
	relNoTemps(t, dir)
}
