package mapping

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// ErrUnknownField is wrapped by Lookup's error when no field has the name.
var ErrUnknownField = errors.New("no such custom field")

// ErrAmbiguous is wrapped by errors about a name that means more than one
// thing: a label shared by two fields, a select value that is one option's
// label and another's index.
var ErrAmbiguous = errors.New("ambiguous")

// Catalog is the ticket field catalog with lookups by field_name and
// field_label. It is read-only after NewCatalog and safe for concurrent use.
type Catalog struct {
	fields  []udesk.Field
	byName  map[string][]int // normKey(field_name) -> positions
	byLabel map[string][]int // normKey(field_label) -> positions
	selects []*selectIndex   // per position; nil for non-select fields
}

// NewCatalog indexes fields (in catalog order, as the API lists them).
func NewCatalog(fields []udesk.Field) *Catalog {
	c := &Catalog{
		fields:  append([]udesk.Field(nil), fields...),
		byName:  make(map[string][]int, len(fields)),
		byLabel: make(map[string][]int, len(fields)),
		selects: make([]*selectIndex, len(fields)),
	}
	for i := range c.fields {
		f := &c.fields[i]
		c.byName[normKey(f.Name)] = append(c.byName[normKey(f.Name)], i)
		if k := normKey(f.Label); k != "" {
			c.byLabel[k] = append(c.byLabel[k], i)
		}
		if isSelect(f.ContentType) {
			c.selects[i] = newSelectIndex(f)
		}
	}
	return c
}

// LoadCatalog reads a field catalog file (what `udesk-etl fields -o` writes,
// the API's full reply, or a bare array).
func LoadCatalog(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fields, err := udesk.ReadFields(f)
	if err != nil {
		return nil, fmt.Errorf("field catalog %s: %w", path, err)
	}
	return NewCatalog(fields), nil
}

// Fields returns the catalog's fields in catalog order. The slice is the
// catalog's own: do not modify it.
func (c *Catalog) Fields() []udesk.Field { return c.fields }

// Lookup finds a custom field by field_name or field_label, ignoring case and
// white space. A field_name match wins over a label. A label that two fields
// share is an error (ErrAmbiguous) naming both; so is an unknown name
// (ErrUnknownField).
func (c *Catalog) Lookup(name string) (*udesk.Field, error) {
	i, err := c.lookup(name)
	if err != nil {
		return nil, err
	}
	return &c.fields[i], nil
}

func (c *Catalog) lookup(name string) (int, error) {
	k := normKey(name)
	if pos := c.byName[k]; len(pos) > 0 {
		if len(pos) > 1 {
			return -1, fmt.Errorf("%w: field_name %q is used by %d fields of the catalog", ErrAmbiguous, name, len(pos))
		}
		return pos[0], nil
	}
	pos := c.byLabel[k]
	switch len(pos) {
	case 0:
		return -1, fmt.Errorf("%q: %w (neither a field_name nor a field_label of the catalog)", name, ErrUnknownField)
	case 1:
		return pos[0], nil
	}
	names := make([]string, len(pos))
	for j, p := range pos {
		names[j] = c.fields[p].Name
	}
	return -1, fmt.Errorf("%w: field_label %q is shared by fields %s; name the column by its field_name instead",
		ErrAmbiguous, name, strings.Join(names, ", "))
}

// normKey folds a column or field name for matching: lower case, with every
// white space character (and a byte order mark) removed.
func normKey(s string) string {
	simple := true
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 0x80 || b <= ' ' || (b >= 'A' && b <= 'Z') {
			simple = false
			break
		}
	}
	if simple {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsSpace(r) || r == '\ufeff' {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// fieldDesc names a custom field in error messages: its label, name and type.
func fieldDesc(f *udesk.Field) string {
	if f.Label == "" || f.Label == f.Name {
		return fmt.Sprintf("field %s (%s)", f.Name, f.ContentType)
	}
	return fmt.Sprintf("field %q (%s, %s)", f.Label, f.Name, f.ContentType)
}
