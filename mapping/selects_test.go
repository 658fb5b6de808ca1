package mapping

import (
	"errors"
	"slices"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk"
)

func TestSelectToWire(t *testing.T) {
	c := specCatalog()
	for _, tc := range []struct {
		field, in, mode string
		create, update  string
		errHas          []string
	}{
		// droplist and radio: label or index, exact or ignoring case and spaces.
		{field: "下拉列表字段", in: "下拉选项2", create: "1", update: "下拉选项2"},
		{field: "下拉列表字段", in: " 下拉 选项2 ", create: "1", update: "下拉选项2"},
		{field: "下拉列表字段", in: "1", create: "1", update: "下拉选项2"},
		{field: "下拉列表字段", in: "1", mode: SelectIndexes, create: "1", update: "下拉选项2"},
		{field: "下拉列表字段", in: "下拉选项2", mode: SelectLabels, create: "1", update: "下拉选项2"},
		{field: "单选框字段", in: "0", create: "0", update: "单选框选项1"},
		{field: "单选框字段", in: "单选框选项2", create: "1", update: "单选框选项2"},
		// checkbox: several, in option order, duplicates once.
		{field: "多选框字段", in: "0,3", create: "0,3", update: "多选框选项1,多选框选项4"},
		{field: "多选框字段", in: "3, 0 ,3", create: "0,3", update: "多选框选项1,多选框选项4"},
		{field: "多选框字段", in: "多选框选项1,多选框选项4", create: "0,3", update: "多选框选项1,多选框选项4"},
		{field: "多选框字段", in: "多选框选项2，1", create: "1", update: "多选框选项2"},
		{field: "多选框字段", in: "2", create: "2", update: "多选框选项3"},
		// errors name the field, the value and the options.
		{field: "下拉列表字段", in: "下拉选项2", mode: SelectIndexes,
			errHas: []string{`"下拉选项2" is not an option index`, `"下拉列表字段" (SelectField_1, droplist)`, "0=下拉选项1, 1=下拉选项2, 2=下拉选项3"}},
		{field: "下拉列表字段", in: "1", mode: SelectLabels,
			errHas: []string{`"1" is not an option label`, "SelectField_1"}},
		{field: "单选框字段", in: "5",
			errHas: []string{`"5" is not an option label or index`, `"单选框字段" (SelectField_2, radio)`, "0=单选框选项1, 1=单选框选项2"}},
		{field: "多选框字段", in: "0,9",
			errHas: []string{`"9" is not an option label or index`, "SelectField_3, checkbox", "3=多选框选项4"}},
	} {
		i, err := c.lookup(tc.field)
		if err != nil {
			t.Fatal(err)
		}
		for _, labels := range []bool{false, true} {
			got, err := c.selects[i].toWire(tc.in, tc.mode, labels)
			if tc.errHas != nil {
				wantErr(t, err, tc.errHas...)
				continue
			}
			want := tc.create
			if labels {
				want = tc.update
			}
			if err != nil || got != want {
				t.Errorf("%s %q mode %q labels %v = %q, %v; want %q", tc.field, tc.in, tc.mode, labels, got, err, want)
			}
		}
	}
}

// A value that is one option's label and another's index needs the user to
// say which they mean.
func TestSelectAmbiguous(t *testing.T) {
	f := udesk.Field{Name: "SelectField_9", Label: "Size", ContentType: "droplist", Options: opts("1", "2", "Big")}
	s := newSelectIndex(&f)
	_, err := s.toWire("1", SelectAuto, false)
	if !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("err %v, want ErrAmbiguous", err)
	}
	wantErr(t, err, `"1" is the label of option 0 and the index of option 1=2`, `"Size" (SelectField_9, droplist)`, `"labels" or "indexes"`)
	if got, err := s.toWire("1", SelectLabels, false); got != "0" || err != nil {
		t.Errorf("labels: %q, %v; want 0", got, err)
	}
	if got, err := s.toWire("1", SelectIndexes, true); got != "2" || err != nil {
		t.Errorf("indexes: %q, %v; want label 2", got, err)
	}
	// "0" is no label, "2" is option 1's label and option 2's index.
	if got, err := s.toWire("0", SelectAuto, true); got != "1" || err != nil {
		t.Errorf("0: %q, %v", got, err)
	}
	// A label equal to its own index is not ambiguous.
	g := udesk.Field{Name: "S", ContentType: "radio", Options: opts("0", "x")}
	if got, err := newSelectIndex(&g).toWire("0", SelectAuto, false); got != "0" || err != nil {
		t.Errorf("own index: %q, %v", got, err)
	}
	// Two labels that fold alike must be written exactly.
	h := udesk.Field{Name: "S", ContentType: "droplist", Options: opts("Red", "RED")}
	hs := newSelectIndex(&h)
	if got, err := hs.toWire("RED", SelectAuto, false); got != "1" || err != nil {
		t.Errorf("exact: %q, %v", got, err)
	}
	_, err = hs.toWire("red", SelectAuto, false)
	wantErr(t, err, `"red" matches several option labels`)
}

// A checkbox label holding a comma is taken whole.
func TestCheckboxLabelWithComma(t *testing.T) {
	f := udesk.Field{Name: "C", ContentType: "checkbox", Options: opts("a,b", "c")}
	s := newSelectIndex(&f)
	if got, err := s.toWire("a,b", SelectAuto, false); got != "0" || err != nil {
		t.Errorf("%q, %v", got, err)
	}
}

func TestSelectToLabels(t *testing.T) {
	c := specCatalog()
	i, _ := c.lookup("SelectField_3")
	s := c.selects[i]
	if got, ok := s.labelsOf("0,3"); !ok || !slices.Equal(got, []string{"多选框选项1", "多选框选项4"}) {
		t.Errorf("labelsOf(0,3) = %q, %v", got, ok)
	}
	if _, ok := s.labelsOf("0,7"); ok {
		t.Error("labelsOf(0,7) succeeded")
	}
	if l, ok := s.label("2"); !ok || l != "多选框选项3" {
		t.Errorf("label(2) = %q, %v", l, ok)
	}
}
