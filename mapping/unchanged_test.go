package mapping

import (
	"errors"
	"testing"
)

// Unchanged tells the rows that hold their originals' text, and notes
// nothing: Operation then sees the row for the first time.
func TestDifferUnchanged(t *testing.T) {
	header, rows := exported(t, diffTicket(1), diffTicket(2))
	d := newTestDiffer(t, header, header, rows)
	edited := set(header, rows[1], "subject", "new subject")
	unknown := set(header, rows[0], "id", "99")
	for _, tc := range []struct {
		name  string
		cells []string
		want  bool
	}{
		{"as exported", rows[0], true},
		{"edited", edited, false},
		{"not exported", unknown, false},
		{"no id", set(header, rows[0], "id", ""), false},
	} {
		if got := d.Unchanged(rec(2, tc.cells...)); got != tc.want {
			t.Errorf("%s: Unchanged %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, _, err := d.Operation(rec(2, rows[0]...)); !errors.Is(err, ErrUnchanged) {
		t.Errorf("Operation after Unchanged: %v, want ErrUnchanged (not a duplicate)", err)
	}
}
