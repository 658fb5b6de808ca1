package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/udesk-etl/udesk-etl"

// floors are the project's packages from the top floor down. A package
// belongs to the longest room that is its path or a folder above it (so
// jobs/ingest/ingesttest is in jobs/ingest's room: a test helper may import
// what it tests). A package may import its own room and the rooms of the
// floors below, never a room beside it or above. A package in no room fails
// the test: give it a floor here.
var floors = [][]string{
	{"cmd"}, // the faces: the command line and the benchmark tool
	// internal/benchreport is the benchmark tool's body, exporttest the
	// export tests' reader of every format.
	{"jobs/export", "jobs/ingest", "jobs/sync", "internal/benchreport", "internal/exporttest"},
	{"jobs/listing", "jobs/dataset"},
	{"sinks", "sources"},
	{"mapping"},
	{"pipeline", "udesk"},
}

// isolated rooms, on the ground floor, import nothing of the project:
// pipeline holds the contracts every floor builds on; the simulator is an
// independent reading of the API's spec, so it must not share the client's
// (a mistake in the wire types would hide behind the same mistake); and
// internal/layers is this test.
var isolated = []string{"udesk/udesktest", "pipeline", "internal/layers"}

// pending are upward imports known and on their way out, as "from -> to".
// One that no package makes any more fails the test: delete it here.
var pending = []string{}

// Only the packages' own imports are checked: test files may read an
// output back with any package (sinks' tests with sources' readers).
func TestLayers(t *testing.T) {
	graph, err := listImports(moduleRoot(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(graph) < 10 {
		t.Fatalf("go list found %d packages: the graph is not the project's", len(graph))
	}
	bad := violations(graph)
	for _, p := range pending {
		if i := slices.Index(bad, p); i >= 0 {
			bad = slices.Delete(bad, i, i+1)
		} else {
			t.Errorf("pending %q: no package imports so any more; delete it from pending", p)
		}
	}
	for _, v := range bad {
		t.Error(v)
	}
}

// TestLayersCatchUpwardImport adds a file with an upward import to a real
// package (go list -overlay: the tree on disk is untouched) and checks that
// the same checker, on the real graph, names it.
func TestLayersCatchUpwardImport(t *testing.T) {
	root := moduleRoot(t)
	for _, c := range []struct{ from, to, want string }{
		{"jobs/dataset", "jobs/ingest", "jobs/dataset imports jobs/ingest, which is on a floor above it"},
		{"jobs/export", "jobs/ingest", "jobs/export imports jobs/ingest, which is beside it on its floor"},
		{"udesk/udesktest", "udesk", "udesk/udesktest imports udesk, but it imports nothing of the project"},
		{"pipeline", "udesk", "pipeline imports udesk, but it imports nothing of the project"},
	} {
		t.Run(c.from+"->"+c.to, func(t *testing.T) {
			overlay := upwardOverlay(t, root, c.from, c.to)
			graph, err := listImports(root, []string{"-overlay", overlay})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(graph[c.from], c.to) {
				t.Fatalf("the overlay did not add the import: %s imports %v", c.from, graph[c.from])
			}
			if got := violations(graph); !slices.Contains(got, c.want) {
				t.Errorf("violations = %q, want it to hold %q", got, c.want)
			}
		})
	}
}

// violations names each import that breaks the floors, sorted; an
// import on the pending list is named as "from -> to".
func violations(graph map[string][]string) []string {
	var out []string
	for pkg, imports := range graph {
		from, fromFloor := roomOf(pkg)
		if fromFloor < 0 {
			out = append(out, fmt.Sprintf("%s is on no floor: add it to floors in internal/layers", pkg))
			continue
		}
		for _, imp := range imports {
			to, toFloor := roomOf(imp)
			switch {
			case to == from:
			case slices.Contains(isolated, from):
				out = append(out, fmt.Sprintf("%s imports %s, but it imports nothing of the project", pkg, imp))
			case slices.Contains(pending, pkg+" -> "+imp):
				out = append(out, pkg+" -> "+imp)
			case toFloor == fromFloor:
				out = append(out, fmt.Sprintf("%s imports %s, which is beside it on its floor", pkg, imp))
			case toFloor < fromFloor:
				out = append(out, fmt.Sprintf("%s imports %s, which is on a floor above it", pkg, imp))
			}
		}
	}
	slices.Sort(out)
	return out
}

// roomOf is the room a package (a path inside the module) belongs to and
// its floor (0 the top), or -1 when it is in none.
func roomOf(pkg string) (room string, floor int) {
	floor = -1
	for i, rooms := range floors {
		for _, r := range append(rooms, isolated...) {
			if (pkg == r || strings.HasPrefix(pkg, r+"/")) && len(r) > len(room) {
				room, floor = r, i
				if slices.Contains(isolated, r) {
					floor = len(floors) - 1
				}
			}
		}
	}
	return room, floor
}

// listImports is the module's import graph from go list: each package's
// path inside the module and the module's packages it imports (its own
// files, not its tests').
func listImports(root string, flags []string) (map[string][]string, error) {
	args := append([]string{"list", "-e", "-json=ImportPath,Imports,Error"}, flags...)
	cmd := exec.Command("go", append(args, "./...")...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, stderr.Bytes())
	}
	graph := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Imports    []string
			Error      *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkg, ok := inModule(p.ImportPath)
		if !ok {
			continue
		}
		graph[pkg] = []string{}
		for _, imp := range p.Imports {
			if imp, ok := inModule(imp); ok {
				graph[pkg] = append(graph[pkg], imp)
			}
		}
	}
	return graph, nil
}

func inModule(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	return strings.CutPrefix(path, module+"/")
}

// upwardOverlay writes a go list overlay that adds to the package from a
// file importing the package to, and returns the overlay's path.
func upwardOverlay(t *testing.T, root, from, to string) string {
	t.Helper()
	name := packageName(t, root, from)
	dir := t.TempDir()
	src := filepath.Join(dir, "upward.go")
	code := fmt.Sprintf("package %s\n\nimport _ %q\n", name, module+"/"+to)
	if err := os.WriteFile(src, []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root, filepath.FromSlash(from), "zz_upward_import.go")
	b, err := json.Marshal(map[string]map[string]string{"Replace": {target: src}})
	if err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlay, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return overlay
}

func packageName(t *testing.T, root, pkg string) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.Name}}", "./"+pkg)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.TrimSpace(string(out))
}

// moduleRoot is the folder of the module's go.mod, above this package's.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}
