package mapping

import (
	"strings"
	"testing"
)

func TestValueNames(t *testing.T) {
	for _, tc := range []struct {
		what   string
		lookup func(string) (ValueName, error)
		names  []ValueName
		count  int
	}{
		{"status", LookupStatus, Statuses, 4},
		{"priority", LookupPriority, Priorities, 4},
		{"platform", LookupPlatform, Platforms, 9},
	} {
		if len(tc.names) != tc.count {
			t.Errorf("%s: %d names, want %d", tc.what, len(tc.names), tc.count)
		}
		for _, n := range tc.names {
			spellings := []string{n.Chinese, " " + n.Chinese + " "}
			if n.English != "" {
				spellings = append(spellings, n.English, " "+strings.ToUpper(n.English)+" ")
			}
			for _, s := range spellings {
				got, err := tc.lookup(s)
				if err != nil || got != n {
					t.Errorf("%s %q = %+v, %v; want %+v", tc.what, s, got, err, n)
				}
			}
		}
		_, err := tc.lookup("bogus")
		wantErr(t, err, `"bogus"`, "not a "+tc.what, tc.names[0].Chinese)
	}
	// The spec's tables, spelled out.
	want := map[string]string{"打开": "open", "解决中": "solving", "已解决": "resolved", "已关闭": "closed",
		"紧急": "urgency", "高": "high", "标准": "medium", "低": "low"}
	for _, n := range append(append([]ValueName{}, Statuses...), Priorities...) {
		if want[n.Chinese] != n.English {
			t.Errorf("%s: English %q, want %q", n.Chinese, n.English, want[n.Chinese])
		}
	}
	_, err := LookupStatus("")
	wantErr(t, err, "打开/open, 解决中/solving, 已解决/resolved, 已关闭/closed")
	_, err = LookupPriority("P1")
	wantErr(t, err, `"P1"`, "紧急/urgency, 高/high, 标准/medium, 低/low")
}
