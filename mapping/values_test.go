package mapping

import (
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// valueCase is one cell and what the API gets (want) or an error naming the
// parts listed in errHas.
type valueCase struct {
	in, want string
	errHas   []string
}

func runValueCases(t *testing.T, name string, fn func(string) (string, error), cases []valueCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := fn(tc.in)
		if tc.errHas != nil {
			if err == nil {
				t.Errorf("%s(%q) = %q, want an error", name, tc.in, got)
				continue
			}
			wantErr(t, err, tc.errHas...)
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s(%q) = %q, %v; want %q", name, tc.in, got, err, tc.want)
		}
	}
}

func TestNormDate(t *testing.T) {
	bad := func(v string) []string { return []string{`"` + v + `"`, "2016-08-11", "Excel"} }
	runValueCases(t, "normDate", normDate, []valueCase{
		{in: "2016-08-11", want: "2016-08-11"},
		{in: " 2016-8-1 ", want: "2016-08-01"},
		{in: "2016/8/11", want: "2016-08-11"},
		{in: "2016.08.11", want: "2016-08-11"},
		{in: "2016年8月11日", want: "2016-08-11"},
		{in: "20160811", want: "2016-08-11"},
		{in: "2016-08-11 00:00:00", want: "2016-08-11"},
		{in: "2016-08-11T00:00:00Z", want: "2016-08-11"},
		{in: "42593", want: "2016-08-11"},   // Excel serial
		{in: "42593.0", want: "2016-08-11"}, // Excel serial as a float
		{in: "1", want: "1900-01-01"},       // before Excel's phantom 1900-02-29
		{in: "61", want: "1900-03-01"},
		{in: "2016-02-29", want: "2016-02-29"},
		{in: "2015-02-29", errHas: bad("2015-02-29")},
		{in: "2016-13-01", errHas: bad("2016-13-01")},
		{in: "08/11/2016", errHas: bad("08/11/2016")}, // month/day order is a guess: refused
		{in: "tomorrow", errHas: bad("tomorrow")},
		{in: "60", errHas: bad("60")}, // 1900-02-29 never was
		{in: "0", errHas: bad("0")},
		{in: "2016-08-11 14:44", errHas: []string{`"2016-08-11 14:44"`, "time of day", "2016-08-11"}},
		{in: "42593.5", errHas: []string{`"42593.5"`, "time of day"}},
	})
}

func TestNormTime(t *testing.T) {
	bad := func(v string) []string { return []string{`"` + v + `"`, "14:44:36"} }
	runValueCases(t, "normTime", normTime, []valueCase{
		{in: "14:44:36", want: "14:44:36"},
		{in: "14:44", want: "14:44:00"},
		{in: "9:05", want: "09:05:00"},
		{in: " 09:05:07 ", want: "09:05:07"},
		{in: "14:44:36.000", want: "14:44:36"},
		{in: "0.6143055556", want: "14:44:36"}, // Excel fraction of a day
		{in: "0", want: "00:00:00"},
		{in: "24:00", errHas: bad("24:00")},
		{in: "14:60", errHas: bad("14:60")},
		{in: "14:44:36.5", errHas: bad("14:44:36.5")},
		{in: "1.5", errHas: bad("1.5")}, // a date serial is not a time
		{in: "0.99999999", errHas: bad("0.99999999")},
		{in: "2pm", errHas: bad("2pm")},
	})
}

func TestNormDatetime(t *testing.T) {
	bad := func(v string) []string { return []string{`"` + v + `"`, "2017-05-03 14:44"} }
	runValueCases(t, "normDatetime", normDatetime, []valueCase{
		{in: "2017-05-03 14:44", want: "2017-05-03 14:44"},
		{in: "2017-05-03 14:44:00", want: "2017-05-03 14:44"},
		{in: "2017/5/3 9:05", want: "2017-05-03 09:05"},
		{in: "2017-05-03T14:44:00", want: "2017-05-03 14:44"},
		{in: "2017-05-03T14:44:00+08:00", want: "2017-05-03 14:44"},
		{in: "2017-05-03 14:44:00 +0800", want: "2017-05-03 14:44"}, // what text exports write
		{in: "2017-05-03T06:44:00Z", want: "2017-05-03 14:44"},      // converted to +0800
		{in: "2017-05-03 20:44:00 -0100", want: "2017-05-04 05:44"},
		{in: "2017年5月3日 14:44", want: "2017-05-03 14:44"},
		{in: "2017-05-03", want: "2017-05-03 00:00"},
		{in: "42858.6138888889", want: "2017-05-03 14:44"}, // Excel serial
		{in: "42858", want: "2017-05-03 00:00"},
		{in: "2017-05-03 14:44:36", errHas: []string{`"2017-05-03 14:44:36"`, "seconds", "minutes", "2017-05-03 14:44"}},
		{in: "2017-05-03 14:44:00.5", errHas: []string{"fractions of a second"}},
		{in: "2017-05-03 25:00", errHas: bad("2017-05-03 25:00")},
		{in: "2017-05-03 14:44 +2500", errHas: bad("2017-05-03 14:44 +2500")},
		{in: "May 3 2017", errHas: bad("May 3 2017")},
	})
}

func TestNormLink(t *testing.T) {
	bad := []string{"http://, https:// or ftp://"}
	runValueCases(t, "normLink", normLink, []valueCase{
		{in: "https://www.sample.com", want: "https://www.sample.com"},
		{in: " http://a.example/x?y=1 ", want: "http://a.example/x?y=1"},
		{in: "FTP://files.example/a.zip", want: "FTP://files.example/a.zip"},
		{in: "www.sample.com", errHas: append([]string{`"www.sample.com"`, "not a web address"}, bad...)},
		{in: "mailto:a@b.c", errHas: append([]string{`"mailto:a@b.c"`}, bad...)},
		{in: "javascript://x/alert(1)", errHas: append([]string{"not an http, https or ftp address"}, bad...)},
		{in: "http://a b.example", errHas: bad},
		{in: "http://", errHas: bad},
	})
}

func TestNormNumber(t *testing.T) {
	bad := func(v string) []string { return []string{`"` + v + `"`, "not a whole number"} }
	runValueCases(t, "normNumber", normNumber, []valueCase{
		{in: "13", want: "13"},
		{in: "13.0", want: "13"}, // a spreadsheet number cell
		{in: "13.", want: "13"},
		{in: "+13", want: "13"},
		{in: " 007 ", want: "7"},
		{in: "9223372036854775807", want: "9223372036854775807"},
		{in: "0", want: "0"},      // the API stores and returns 0
		{in: "0.0", want: "0"},    // 0 after a pandas re-save
		{in: "42.00", want: "42"}, // a float column
		{in: "-1", errHas: bad("-1")},
		{in: "13.5", errHas: bad("13.5")},
		{in: "1e3", errHas: bad("1e3")},
		{in: "9223372036854775808", errHas: bad("9223372036854775808")},
		{in: "abc", errHas: bad("abc")},
	})
}

func TestNormNumeric(t *testing.T) {
	bad := func(v string) []string { return []string{`"` + v + `"`, "a number such as 13.33"} }
	runValueCases(t, "normNumeric", normNumeric, []valueCase{
		{in: "13.33", want: "13.33"},
		{in: "-0.5", want: "-0.5"},
		{in: "+2", want: "2"},
		{in: ".5", want: "0.5"},
		{in: "-.5", want: "-0.5"},
		{in: "13.", want: "13"},
		{in: "0.123456789012345678901", want: "0.123456789012345678901"}, // no float rounding
		{in: "1.5e3", want: "1500"},
		{in: "NaN", errHas: bad("NaN")},
		{in: "Inf", errHas: bad("Inf")},
		{in: "0x10", errHas: bad("0x10")},
		{in: "1e999", errHas: bad("1e999")},
		{in: "1,5", errHas: bad("1,5")},
	})
}

func TestNormEmailAndLists(t *testing.T) {
	runValueCases(t, "normEmail", normEmail, []valueCase{
		{in: " a@b.example ", want: "a@b.example"},
		{in: "a", errHas: []string{`"a"`, "name@example.com"}},
		{in: "@b", errHas: []string{"name@example.com"}},
		{in: "a@", errHas: []string{"name@example.com"}},
		{in: "a@b@c", errHas: []string{"name@example.com"}},
		{in: "a b@c", errHas: []string{"name@example.com"}},
	})
	runValueCases(t, "normList(email)", func(v string) (string, error) { return normList(v, normEmail) }, []valueCase{
		{in: "a@x.example, b@x.example，c@x.example,", want: "a@x.example,b@x.example,c@x.example"},
		{in: "a@x.example,nope", errHas: []string{`"nope"`}},
	})
}

// TestNormCustom covers every content type through the one entry import uses,
// and that errors name the field.
func TestNormCustom(t *testing.T) {
	c := specCatalog()
	cases := []struct {
		field, in      string
		create, update string
		errHas         []string
	}{
		{field: "TextField_1", in: " 普通文本内容 ", create: " 普通文本内容 ", update: " 普通文本内容 "},
		{field: "TextField_2", in: "多行文本内容1\r\n多行文本内容2", create: "多行文本内容1\r\n多行文本内容2", update: "多行文本内容1\r\n多行文本内容2"},
		{field: "TextField_3", in: "2016/8/11", create: "2016-08-11", update: "2016-08-11"},
		{field: "TextField_4", in: "14:44:36", create: "14:44:36", update: "14:44:36"},
		{field: "TextField_5", in: "2017-05-03 14:44:00", create: "2017-05-03 14:44", update: "2017-05-03 14:44"},
		{field: "TextField_6", in: "https://www.sample.com", create: "https://www.sample.com", update: "https://www.sample.com"},
		{field: "TextField_7", in: "13.0", create: "13", update: "13"},
		{field: "TextField_8", in: "13.33", create: "13.33", update: "13.33"},
		{field: "SelectField_1", in: "下拉选项1", create: "0", update: "下拉选项1"},
		{field: "SelectField_1", in: "2", create: "2", update: "下拉选项3"},
		{field: "SelectField_2", in: "单选框选项2", create: "1", update: "单选框选项2"},
		{field: "SelectField_3", in: "0,3", create: "0,3", update: "多选框选项1,多选框选项4"},
		{field: "SelectField_3", in: "多选框选项4，多选框选项1", create: "0,3", update: "多选框选项1,多选框选项4"},
		{field: "SelectField_4", in: "0,0,0", create: "0,0,0", update: "0,0,0"}, // chained: unchanged
		{field: "SelectField_4", in: "北京,朝阳", create: "北京,朝阳", update: "北京,朝阳"},
		{field: "TextField_3", in: "2016-02-30", errHas: []string{`field "日期字段" (TextField_3, date)`, `"2016-02-30"`, "2016-08-11"}},
		{field: "TextField_4", in: "noon", errHas: []string{`field "时间字段" (TextField_4, time)`, `"noon"`, "14:44:36"}},
		{field: "TextField_5", in: "x", errHas: []string{`field "日期时间字段" (TextField_5, datetime)`, `"x"`, "2017-05-03 14:44"}},
		{field: "TextField_6", in: "sample.com", errHas: []string{`field "链接字段" (TextField_6, link)`, `"sample.com"`, "https://"}},
		{field: "TextField_7", in: "-3", errHas: []string{`field "正整数字段" (TextField_7, number)`, `"-3"`, "not a whole number"}},
		{field: "TextField_8", in: "abc", errHas: []string{`field "数值字段" (TextField_8, numeric)`, `"abc"`, "13.33"}},
		{field: "SelectField_1", in: "下拉选项9", errHas: []string{`field "下拉列表字段" (SelectField_1, droplist)`, `"下拉选项9"`, "0=下拉选项1, 1=下拉选项2, 2=下拉选项3"}},
	}
	for _, tc := range cases {
		i, err := c.lookup(tc.field)
		if err != nil {
			t.Fatal(err)
		}
		for _, labels := range []bool{false, true} {
			got, err := normCustom(&c.fields[i], c.selects[i], tc.in, SelectAuto, labels)
			if tc.errHas != nil {
				wantErr(t, err, tc.errHas...)
				continue
			}
			want := tc.create
			if labels {
				want = tc.update
			}
			if err != nil || got != want {
				t.Errorf("%s %q (labels %v) = %q, %v; want %q", tc.field, tc.in, labels, got, err, want)
			}
		}
	}
	// A type this code does not know passes through like text.
	f := udesk.Field{Name: "X", ContentType: "signature"}
	if got, err := normCustom(&f, nil, "abc", "", false); got != "abc" || err != nil {
		t.Errorf("unknown type: %q, %v", got, err)
	}
}
