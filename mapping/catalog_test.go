package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk"
)

func TestLookup(t *testing.T) {
	c := specCatalog()
	for _, tc := range []struct{ in, want string }{
		{"TextField_1", "TextField_1"},
		{"textfield_1", "TextField_1"},
		{" TEXTFIELD_1 ", "TextField_1"},
		{"单行文本字段", "TextField_1"},
		{" 单行 文本字段\u3000", "TextField_1"},
		{"\ufeff下拉列表字段", "SelectField_1"},
		{"selectfield_3", "SelectField_3"},
		{"级联字段", "SelectField_4"},
	} {
		f, err := c.Lookup(tc.in)
		if err != nil || f.Name != tc.want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", tc.in, f, err, tc.want)
		}
	}
	_, err := c.Lookup("Nope")
	if !errors.Is(err, ErrUnknownField) {
		t.Errorf("unknown: err %v, want ErrUnknownField", err)
	}
	wantErr(t, err, `"Nope"`, "field_name", "field_label")
}

func TestLookupAmbiguousLabel(t *testing.T) {
	fields := append(specFields(), udesk.Field{Name: "TextField_9", Label: "日期 字段", ContentType: "text"})
	c := NewCatalog(fields)
	// Fields with a shared label are fine until a file names that label.
	if f, err := c.Lookup("TextField_9"); err != nil || f.Name != "TextField_9" {
		t.Fatalf("by name: %v, %v", f, err)
	}
	if _, err := c.Lookup("单行文本字段"); err != nil {
		t.Fatalf("other label: %v", err)
	}
	_, err := c.Lookup("日期字段")
	if !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("err %v, want ErrAmbiguous", err)
	}
	wantErr(t, err, "日期字段", "TextField_3", "TextField_9", "field_name")
}

func TestLoadCatalog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fields.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := udesk.WriteFields(f, specFields()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c, err := LoadCatalog(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.Fields()); got != len(specFields()) {
		t.Fatalf("%d fields, want %d", got, len(specFields()))
	}
	sel, err := c.Lookup("多选框字段")
	if err != nil || len(sel.Options) != 4 || sel.Options[3].Label != "多选框选项4" {
		t.Errorf("checkbox after load: %+v, %v", sel, err)
	}
	os.WriteFile(path, []byte("not json"), 0o600)
	_, err = LoadCatalog(path)
	wantErr(t, err, path)
	_, err = LoadCatalog(filepath.Join(t.TempDir(), "missing.json"))
	wantErr(t, err, "missing.json")
}
