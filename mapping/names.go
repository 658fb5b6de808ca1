package mapping

import (
	"fmt"
	"strings"
)

// ValueName is one value of a named ticket attribute in both of the API's
// languages (see UDESK-API-NOTES.md, "Value names").
type ValueName struct {
	Chinese string
	English string
}

// Status, priority and platform names in the spec's order.
var (
	Statuses = []ValueName{
		{"打开", "open"}, {"解决中", "solving"}, {"已解决", "resolved"}, {"已关闭", "closed"},
	}
	Priorities = []ValueName{
		{"紧急", "urgency"}, {"高", "high"}, {"标准", "medium"}, {"低", "low"},
	}
	// The spec leaves the English names of 邮件, 微博 and 微信 blank: they are
	// matched by their Chinese names only.
	Platforms = []ValueName{
		{"邮件", ""}, {"微博", ""}, {"微信", ""}, {"即时聊天", "im"}, {"电话", "call"},
		{"反馈标签", "feedback"}, {"帮助中心", "hc"}, {"手工录入", "manual_input"}, {"API", "api"},
	}
)

// LookupStatus finds a status by its Chinese or English name, ignoring case
// and white space.
func LookupStatus(s string) (ValueName, error) { return lookupName("status", Statuses, s) }

// LookupPriority finds a priority by its Chinese or English name, ignoring
// case and white space.
func LookupPriority(s string) (ValueName, error) { return lookupName("priority", Priorities, s) }

// LookupPlatform finds a platform (channel) by its Chinese or English name,
// ignoring case and white space.
func LookupPlatform(s string) (ValueName, error) { return lookupName("platform", Platforms, s) }

func lookupName(what string, names []ValueName, s string) (ValueName, error) {
	k := normKey(s)
	for _, n := range names {
		if k == normKey(n.Chinese) || (n.English != "" && k == normKey(n.English)) {
			return n, nil
		}
	}
	return ValueName{}, fmt.Errorf("%q is not a %s; expected one of %s", s, what, nameList(names))
}

// nameList spells the allowed names for error messages: 打开/open, 解决中/solving.
func nameList(names []ValueName) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n.Chinese
		if n.English != "" {
			parts[i] += "/" + n.English
		}
	}
	return strings.Join(parts, ", ")
}

func chineseNames(names []ValueName) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n.Chinese
	}
	return out
}

func englishNames(names []ValueName) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n.English
	}
	return out
}
