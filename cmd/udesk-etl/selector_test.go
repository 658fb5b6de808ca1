package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseIDsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ids.csv")
	os.WriteFile(p, []byte("\uFEFFid\r\n7\r\n3, 9;7\n\n12\n"), 0o600)
	ids, dups, err := parseIDs("@" + p)
	if err != nil || !slices.Equal(ids, []int64{7, 3, 9, 12}) || dups != 1 {
		t.Errorf("parseIDs = %v, %d, %v; want [7 3 9 12], 1 repeat", ids, dups, err)
	}
	_, _, err = parseIDs("@" + p + "x")
	if !errors.As(err, new(usageError)) {
		t.Errorf("a missing file: %v, want a usage error", err)
	}
	os.WriteFile(p, []byte("7\n8\nx9\n"), 0o600)
	if _, _, err := parseIDs("@" + p); err == nil || !strings.Contains(err.Error(), "line 3: \"x9\" is not a ticket id") {
		t.Errorf("a bad id: %v, want its line", err)
	}
}

func TestSelectorOf(t *testing.T) {
	sel, _, err := selectorOf(2, 7, "", "")
	if err != nil || sel.Listing.FilterID != 2 || sel.Listing.AgentID != 7 || sel.IDs != nil {
		t.Errorf("filter as agent: %+v, %v", sel, err)
	}
	sel, dups, err := selectorOf(0, 0, "", "3,3,4")
	if err != nil || !slices.Equal(sel.IDs, []int64{3, 4}) || dups != 1 {
		t.Errorf("ids: %+v, %d, %v", sel, dups, err)
	}
	for _, bad := range []struct {
		filter, agent  int64
		customer, want string
	}{
		{2, 0, "a@example.com", "pass one of them"},
		{0, 7, "", "--agent needs --filter"},
		{-2, 0, "", "positive ids"},
		{0, 0, "li.lei", "want the customer's email address"},
	} {
		_, _, err := selectorOf(bad.filter, bad.agent, bad.customer, "")
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want a usage error saying %q", bad, err, bad.want)
		}
	}
}
