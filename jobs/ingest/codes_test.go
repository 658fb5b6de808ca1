package ingest_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
)

// The README's table of errors.csv's codes is ErrorCodes, row for row.
func TestREADMEListsEveryErrorCode(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range ingest.ErrorCodes {
		if seen[c.Code] {
			t.Errorf("code %s listed twice", c.Code)
		}
		seen[c.Code] = true
		if row := fmt.Sprintf("| `%s` | %s |", c.Code, c.Meaning); !strings.Contains(string(b), row) {
			t.Errorf("README lacks the row %s", row)
		}
	}
}
