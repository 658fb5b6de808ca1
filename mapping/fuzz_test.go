package mapping

import (
	"slices"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// FuzzSelectRoundTrip: for any catalog of distinct labels and any valid
// selection, index -> label (export) -> index (create) is the identity, and
// so is label -> index -> label (update).
func FuzzSelectRoundTrip(f *testing.F) {
	f.Add("下拉选项1\x00下拉选项2\x00下拉选项3", uint64(0b101), true)
	f.Add("1\x002\x00Big", uint64(0b011), false)
	f.Add("a\x00A\x00 b", uint64(0b111), true)
	f.Add("x", uint64(1), false)
	f.Fuzz(func(t *testing.T, labelText string, mask uint64, checkbox bool) {
		labels := strings.Split(labelText, "\x00")
		if len(labels) > 64 {
			labels = labels[:64]
		}
		seen := map[string]bool{}
		for _, l := range labels {
			if l == "" || seen[l] || strings.TrimSpace(l) != l || strings.ContainsAny(l, ",，") {
				t.Skip("labels must be distinct, trimmed, without commas")
			}
			seen[l] = true
		}
		field := udesk.Field{Name: "SelectField_1", ContentType: udesk.TypeDroplist, Options: opts(labels...)}
		var chosen []string // option indexes in order
		for i := range labels {
			if mask&(1<<i) != 0 {
				chosen = append(chosen, itoa(i))
				if !checkbox {
					break
				}
			}
		}
		if len(chosen) == 0 {
			t.Skip()
		}
		if checkbox {
			field.ContentType = udesk.TypeCheckbox
		}
		s := newSelectIndex(&field)
		wire := strings.Join(chosen, ",")
		var gotLabels []string
		if checkbox {
			l, ok := s.labelsOf(wire)
			if !ok {
				t.Fatalf("labelsOf(%q) failed", wire)
			}
			gotLabels = l
		} else {
			l, ok := s.label(wire)
			if !ok {
				t.Fatalf("label(%q) failed", wire)
			}
			gotLabels = []string{l}
		}
		back, err := s.toWire(strings.Join(gotLabels, ","), SelectLabels, false)
		if err != nil || back != wire {
			t.Fatalf("%q -> %q -> %q, %v", wire, gotLabels, back, err)
		}
		labelsBack, err := s.toWire(wire, SelectIndexes, true)
		if err != nil || labelsBack != strings.Join(gotLabels, ",") {
			t.Fatalf("%q -> labels %q, %v; want %q", wire, labelsBack, err, gotLabels)
		}
	})
}

// FuzzParsers: for any string every parser returns a value or an error,
// never panics, and what it returns is a fixed point (parsing the API form
// again gives the same) that export reads back.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"2016-08-11", "2016/8/11", "2016年8月11日", "20160811", "42593", "42593.6138888889",
		"14:44:36", "9:05", "0.614", "2017-05-03 14:44", "2017-05-03T14:44:00+08:00", "2017-05-03 14:44:00 +0800",
		"https://www.sample.com", "ftp://x", "13", "13.0", "-1", "13.33", "1e3", ".5", "NaN", "0x1p3", "a@b", "",
		"  ", "紧急", "URGENCY", "2016-02-30", "99999999999999999999", "1.7976931348623157e309", "2017-05-03 14:44 +1460"} {
		f.Add(s)
	}
	fixed := map[string]func(string) (string, error){
		"date": normDate, "time": normTime, "datetime": normDatetime, "link": normLink,
		"number": normNumber, "numeric": normNumeric, "email": normEmail,
	}
	cat := specCatalog()
	f.Fuzz(func(t *testing.T, s string) {
		for name, fn := range fixed {
			out, err := fn(s)
			if err != nil {
				if out != "" {
					t.Errorf("%s(%q) = %q with error %v", name, s, out, err)
				}
				continue
			}
			if again, err := fn(out); err != nil || again != out {
				t.Errorf("%s(%q) = %q, then %q, %v", name, s, out, again, err)
			}
		}
		if out, err := normDate(s); err == nil {
			if _, ok := exportDate(out); !ok {
				t.Errorf("export cannot read date %q", out)
			}
		}
		if out, err := normTime(s); err == nil {
			if v, ok := exportTime(out); !ok || v != out {
				t.Errorf("export reads time %q as %v", out, v)
			}
		}
		if out, err := normDatetime(s); err == nil {
			if _, ok := exportDatetime(out); !ok {
				t.Errorf("export cannot read datetime %q", out)
			}
		}
		if n, err := LookupStatus(s); err == nil && !slices.Contains(Statuses, n) {
			t.Errorf("status %q = %+v", s, n)
		}
		LookupPriority(s)
		normID(s)
		timestamp(s)
		exportDate(s)
		exportTime(s)
		exportDatetime(s)
		for i := range cat.fields {
			normCustom(&cat.fields[i], cat.selects[i], s, SelectAuto, false)
		}
	})
}

// FuzzFormula: escaping then unescaping gives back any text, and escaped
// text never starts with a formula character.
func FuzzFormula(f *testing.F) {
	for _, s := range []string{"", "=1+1", "'=1+1", "''", "-5", "+86 131", "@x", "\tx", "\rx", "plain", "'plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := EscapeFormula(s)
		if got := UnescapeFormula(e); got != s {
			t.Errorf("UnescapeFormula(EscapeFormula(%q)) = %q", s, got)
		}
		if e != "" && strings.ContainsRune("=+-@\t\r", rune(e[0])) {
			t.Errorf("EscapeFormula(%q) = %q starts with a formula character", s, e)
		}
	})
}

func TestFormula(t *testing.T) {
	for _, tc := range []struct{ in, esc string }{
		{"=SUM(A1)", "'=SUM(A1)"}, {"+86", "'+86"}, {"-5", "'-5"}, {"@me", "'@me"}, {"\tx", "'\tx"}, {"\rx", "'\rx"},
		{"'quoted", "''quoted"}, {"plain", "plain"}, {"", ""}, {"a=b", "a=b"},
	} {
		if got := EscapeFormula(tc.in); got != tc.esc {
			t.Errorf("EscapeFormula(%q) = %q, want %q", tc.in, got, tc.esc)
		}
		if got := UnescapeFormula(tc.esc); got != tc.in {
			t.Errorf("UnescapeFormula(%q) = %q, want %q", tc.esc, got, tc.in)
		}
	}
	// Text that merely starts with ' keeps it.
	if got := UnescapeFormula("'tis"); got != "'tis" {
		t.Errorf("UnescapeFormula('tis) = %q", got)
	}
}
