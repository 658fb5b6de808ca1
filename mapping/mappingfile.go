package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MappingFile is a column mapping for files from other systems; see the
// package documentation for its format. NewImporter validates it against the
// catalog and the operation.
type MappingFile struct {
	Path          string                       `yaml:"-"`
	Columns       map[string]string            `yaml:"columns"`        // source header -> our column
	Ignore        []string                     `yaml:"ignore"`         // source headers to skip
	IgnoreUnknown bool                         `yaml:"ignore_unknown"` // skip every column that names nothing
	Values        map[string]map[string]string `yaml:"values"`         // our column -> source value -> our value
	Defaults      map[string]string            `yaml:"defaults"`       // our column -> value for an empty cell
	Constants     map[string]string            `yaml:"constants"`      // our column -> value for every row
}

// LoadMappingFile reads a mapping file, YAML or JSON.
func LoadMappingFile(path string) (*MappingFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseMappingFile(path, data)
}

// ParseMappingFile reads a mapping file's contents; name is used in errors.
// Unknown keys are errors (a misspelt "default:" must not be ignored), and so
// are keys that differ only in case or white space.
func ParseMappingFile(name string, data []byte) (*MappingFile, error) {
	m := &MappingFile{Path: name}
	if err := checkMappingKeys(name, data); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(m); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("mapping file %s: %w", name, err)
	}
	var errs []error
	check := func(section string, keys map[string]string) {
		seen := make(map[string]string, len(keys))
		for _, k := range sortedKeys(keys) {
			if prev, dup := seen[normKey(k)]; dup {
				errs = append(errs, fmt.Errorf("mapping file %s: %s: %q and %q name the same thing (case and spaces are ignored)", name, section, prev, k))
			}
			seen[normKey(k)] = k
		}
	}
	check("columns", m.Columns)
	check("defaults", m.Defaults)
	check("constants", m.Constants)
	for _, col := range sortedKeys(m.Values) {
		check(fmt.Sprintf("values of %q", col), m.Values[col])
	}
	for _, src := range sortedKeys(m.Columns) {
		if m.Columns[src] == "" {
			errs = append(errs, fmt.Errorf("mapping file %s: columns: %q maps to nothing; list it under ignore instead", name, src))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// mappingKeys are the keys a mapping file may have: MappingFile's.
func mappingKeys() []string {
	var keys []string
	t := reflect.TypeFor[MappingFile]()
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "-" && k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// checkMappingKeys refuses a key of the file's top level that is no
// mapping key, naming the keys there are (the YAML decoder would name a Go
// type instead). A file that is not a mapping is left to the decoder.
func checkMappingKeys(name string, data []byte) error {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	allowed := mappingKeys()
	var errs []error
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if k := top[i]; !slices.Contains(allowed, k.Value) {
			errs = append(errs, fmt.Errorf("mapping file %s: line %d: unknown key %q: the keys are %s", name, k.Line, k.Value, strings.Join(allowed, ", ")))
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
