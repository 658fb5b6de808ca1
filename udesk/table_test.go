package udesk

import (
	"strings"
	"testing"

	"github.com/rivo/uniseg"
)

// Chinese labels take two columns each on a terminal: the table pads by
// display width so that the columns after them line up.
func TestTableAlignsWideCharacters(t *testing.T) {
	var b strings.Builder
	if err := writeTable(&b, [][]string{{"FIELD_NAME", "LABEL", "TYPE"}, {"SelectField_1", "下拉列表字段", "droplist"}, {"x", "ab", "text"}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for _, l := range lines {
		third := strings.LastIndex(l, "  ") + 2
		if w := uniseg.StringWidth(l[:third]); w != uniseg.StringWidth(lines[0][:strings.LastIndex(lines[0], "  ")+2]) {
			t.Errorf("the third column starts at display column %d in %q:\n%s", w, l, b.String())
		}
	}
}
