package mapping

import (
	"fmt"
	"sort"
	"strings"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// Select value modes (ImportOptions.SelectValues, ExportOptions.SelectValues).
const (
	SelectAuto    = ""        // import: a value may be a label or an index
	SelectLabels  = "labels"  // values are option labels
	SelectIndexes = "indexes" // values are option indexes
)

func isSelect(contentType string) bool {
	switch contentType {
	case udesk.TypeDroplist, udesk.TypeRadio, udesk.TypeCheckbox:
		return true
	}
	return false
}

// selectIndex is the precomputed option lookups of one select field.
type selectIndex struct {
	field   *udesk.Field
	byIndex map[string]int // option index -> position in Options
	byLabel map[string]int // exact label -> position
	byNorm  map[string]int // normKey(label) -> position, -1 when two labels fold alike
	labels  []string       // labels in option order
	indexes []string       // indexes in option order
}

func newSelectIndex(f *udesk.Field) *selectIndex {
	s := &selectIndex{
		field:   f,
		byIndex: make(map[string]int, len(f.Options)),
		byLabel: make(map[string]int, len(f.Options)),
		byNorm:  make(map[string]int, len(f.Options)),
		labels:  make([]string, len(f.Options)),
		indexes: make([]string, len(f.Options)),
	}
	for i, o := range f.Options {
		s.byIndex[o.Index] = i
		if _, dup := s.byLabel[o.Label]; !dup {
			s.byLabel[o.Label] = i
		}
		k := normKey(o.Label)
		if j, seen := s.byNorm[k]; seen && j != i {
			s.byNorm[k] = -1
		} else {
			s.byNorm[k] = i
		}
		s.labels[i] = o.Label
		s.indexes[i] = o.Index
	}
	return s
}

// label returns the label of the option with the index (wire form to labels).
func (s *selectIndex) label(index string) (string, bool) {
	i, ok := s.byIndex[index]
	if !ok {
		return "", false
	}
	return s.labels[i], true
}

// labelsOf turns a checkbox wire value "0,3" into labels, in the order given.
func (s *selectIndex) labelsOf(wire string) ([]string, bool) {
	n := strings.Count(wire, ",") + 1
	out := make([]string, 0, n)
	for part := range strings.SplitSeq(wire, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		l, ok := s.label(part)
		if !ok {
			return nil, false
		}
		out = append(out, l)
	}
	return out, true
}

// optionList names every option for error messages: 0=下拉选项1, 1=下拉选项2.
func (s *selectIndex) optionList() string {
	if len(s.labels) == 0 {
		return "the catalog lists no options"
	}
	var b strings.Builder
	for i := range s.labels {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s", s.indexes[i], s.labels[i])
	}
	return "options " + b.String()
}

// resolve finds the option one user-written token names, by label or index
// as mode allows. A token that is one option's label and another's index is
// ambiguous unless mode decides.
func (s *selectIndex) resolve(tok, mode string) (int, error) {
	li, isLabel := -1, false
	if mode != SelectIndexes {
		if li, isLabel = s.byLabel[tok]; !isLabel {
			li, isLabel = s.byNorm[normKey(tok)]
			if isLabel && li < 0 {
				return -1, fmt.Errorf("%w: %q matches several option labels of %s when case and spaces are ignored; write it exactly (%s)",
					ErrAmbiguous, tok, fieldDesc(s.field), s.optionList())
			}
		}
	}
	ii, isIndex := s.byIndex[tok]
	if mode == SelectLabels {
		isIndex = false
	}
	switch {
	case isLabel && isIndex && li != ii:
		return -1, fmt.Errorf("%w: %q is the label of option %s and the index of option %s=%s of %s; set select values to \"labels\" or \"indexes\"",
			ErrAmbiguous, tok, s.indexes[li], s.indexes[ii], s.labels[ii], fieldDesc(s.field))
	case isLabel:
		return li, nil
	case isIndex:
		return ii, nil
	}
	what := "an option label or index"
	switch mode {
	case SelectLabels:
		what = "an option label"
	case SelectIndexes:
		what = "an option index"
	}
	return -1, fmt.Errorf("%q is not %s of %s; %s", tok, what, fieldDesc(s.field), s.optionList())
}

// toWire turns a user-written select value into what an endpoint takes:
// option indexes for create (wantLabels false), labels for update, several
// checkbox options joined with "," in option order.
func (s *selectIndex) toWire(v, mode string, wantLabels bool) (string, error) {
	v = strings.TrimSpace(v)
	pick := func(i int) string {
		if wantLabels {
			return s.labels[i]
		}
		return s.indexes[i]
	}
	if s.field.ContentType != udesk.TypeCheckbox {
		i, err := s.resolve(v, mode)
		if err != nil {
			return "", err
		}
		return pick(i), nil
	}
	// A whole value that is one label is taken as that label even if it
	// holds a comma.
	if i, ok := s.byLabel[v]; ok && mode != SelectIndexes {
		return pick(i), nil
	}
	var chosen []int
	for tok := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ',' || r == '，' }) {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		i, err := s.resolve(tok, mode)
		if err != nil {
			return "", err
		}
		chosen = append(chosen, i)
	}
	sort.Ints(chosen)
	var b strings.Builder
	for j, i := range chosen {
		if j > 0 && chosen[j-1] == i {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(pick(i))
	}
	return b.String(), nil
}
