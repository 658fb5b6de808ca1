package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/udesk-etl/udesk-etl/jobs/export"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// selectorOf is the export's selector of the command line's choices, at
// most one of them: a filter (read as agent, when set), a customer's email,
// or ids as parseIDs reads them. dups counts the ids given more than once.
func selectorOf(filter, agent int64, customer, ids string) (sel export.Selector, dups int, err error) {
	n := 0
	for _, set := range []bool{filter != 0, customer != "", ids != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return sel, 0, usagef("--filter, --customer and --ids select tickets in different ways: pass one of them")
	case agent != 0 && filter == 0:
		return sel, 0, usagef("--agent needs --filter (it names the agent whose view of the filter is read)")
	case filter < 0 || agent < 0:
		return sel, 0, usagef("--filter and --agent take positive ids")
	case filter != 0:
		sel.Listing = udesk.Listing{FilterID: filter, AgentID: agent}
	case customer != "":
		if !strings.Contains(customer, "@") {
			return sel, 0, usagef("--customer %q: want the customer's email address", customer)
		}
		sel.Listing = udesk.Listing{CustomerEmail: customer}
	case ids != "":
		sel.IDs, dups, err = parseIDs(ids)
	}
	return sel, dups, err
}

var idSeparators = regexp.MustCompile(`[\s,;]+`)

// parseIDs reads --ids: a list "1,2,3" or "@FILE" holding ids separated by
// commas, semicolons, spaces or lines (a first token "id" is taken as a
// header). Repeated ids are kept once, in first-seen order, and counted in
// dups. Its errors name the file and line.
func parseIDs(spec string) (ids []int64, dups int, err error) {
	text, where := spec, "--ids"
	if name, ok := strings.CutPrefix(spec, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, 0, usagef("--ids @%s: %v", name, err)
		}
		text, where = string(b), "--ids @"+name
	}
	seen := map[int64]bool{}
	for line, l := range strings.Split(strings.TrimPrefix(text, "\uFEFF"), "\n") {
		for _, tok := range idSeparators.Split(strings.TrimSpace(l), -1) {
			if tok == "" || (len(seen) == 0 && dups == 0 && strings.EqualFold(tok, "id")) {
				continue
			}
			id, err := strconv.ParseInt(tok, 10, 64)
			if err != nil || id <= 0 {
				if where == "--ids" {
					return nil, 0, usagef("--ids: %q is not a ticket id", tok)
				}
				return nil, 0, usagef("%s line %d: %q is not a ticket id", where, line+1, tok)
			}
			if seen[id] {
				dups++
				continue
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, 0, usagef("%s holds no ticket id", where)
	}
	return ids, dups, nil
}
