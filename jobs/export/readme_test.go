package export

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeShowsExampleRun keeps the README's library example the body of
// ExampleRun, which compiles and runs: the README cannot drift from the API.
func TestReadmeShowsExampleRun(t *testing.T) {
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(src), "func ExampleRun() {\n")
	body, _, ok2 := strings.Cut(body, "\t// Output:")
	if !ok || !ok2 {
		t.Fatal("example_test.go has no ExampleRun with an Output comment")
	}
	var want strings.Builder
	for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		want.WriteString(strings.TrimPrefix(l, "\t") + "\n")
	}
	if !strings.Contains(string(readme), "```go\n"+want.String()+"```\n") {
		t.Errorf("README.md's export example is not ExampleRun's body:\n%s", want.String())
	}
}
