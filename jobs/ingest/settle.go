package ingest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/listing"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// Settling the rows whose outcome is unknown. A create is looked for among
// its customer's tickets: by its marker when the import has a marker field,
// else by look-alike (same subject and content, created since the intent,
// and every field the row sets equal in read terms). A look-alike is proof
// only when it cannot be another row's: rows in doubt that could own the
// same ticket are decided together, and when they cannot be told apart none
// is taken nor resent.

type verdict int

const (
	verdictAbsent  verdict = iota // provably not written: send (again)
	verdictFound                  // the create is on the server
	verdictUnknown                // cannot tell: report, never resend silently
)

// decision is what settling made of one row in doubt.
type decision struct {
	v   verdict
	id  int64  // verdictFound: the row's ticket
	why string // verdictUnknown: what the user is told
}

func unknown(format string, args ...any) decision {
	return decision{v: verdictUnknown, why: fmt.Sprintf(format, args...)}
}

// errListingMoved: a customer's tickets kept changing while they were listed.
var errListingMoved = errors.New("the customer's tickets changed while they were listed")

// settleRound decides every row of todo, then resends those proven not
// written. Deciding all before resending any keeps a resent row's new
// ticket from being taken for a look-alike row still in doubt.
func (s *sender) settleRound(ctx context.Context, todo []doubt) error {
	sort.Slice(todo, func(i, k int) bool { return todo[i].op.Pos.Row < todo[k].op.Pos.Row })
	decisions, err := s.decide(ctx, todo)
	if err != nil {
		return err
	}
	var resend []doubt
	for i, d := range todo {
		row := d.op.Pos.Row
		switch dec := decisions[i]; dec.v {
		case verdictFound:
			s.mu.Lock()
			s.claimed[dec.id] = true
			s.settled++
			s.mu.Unlock()
			by := foundByMatch
			if s.opts.markerField != "" && d.intent.Key != "" {
				by = foundByMarker
			}
			if err := s.finish(pipeline.JournalEntry{Type: pipeline.EntryOK, Row: row, TicketID: dec.id, Action: ActionCreated, Key: d.intent.Key}, by); err != nil {
				return err
			}
		case verdictUnknown:
			if err := s.finish(pipeline.JournalEntry{Type: pipeline.EntryUnknown, Row: row, TicketID: d.op.ID, Code: CodeOutcomeUnknown, Message: dec.why}, ""); err != nil {
				return err
			}
		default:
			resend = append(resend, d)
		}
	}
	for _, d := range resend {
		row := d.op.Pos.Row
		s.mu.Lock()
		s.resent[row]++
		rounds := s.resent[row]
		s.mu.Unlock()
		if rounds > maxSettleRounds {
			// Still in doubt after several resends: leave the intent for the
			// next run rather than loop.
			continue
		}
		if err := s.opts.journal.Append(pipeline.JournalEntry{Type: pipeline.EntryVoid, Row: row}); err != nil {
			return err
		}
		s.mu.Lock()
		s.voided++
		s.mu.Unlock()
		if err := s.write(ctx, d.op); err != nil {
			return err
		}
	}
	return nil
}

// decide finds out, for each row of todo (in row order), whether its write
// took effect. Creates of one customer are decided together.
func (s *sender) decide(ctx context.Context, todo []doubt) ([]decision, error) {
	out := make([]decision, len(todo))
	byEmail := map[string][]int{}
	var emails []string
	for i, d := range todo {
		op := d.op
		switch op.Kind {
		case mapping.Update:
			if op.Update.Comment != nil {
				out[i] = unknown("the update of ticket %d with a comment may or may not have been applied (a comment cannot be looked up); not resent: check the ticket, then fix or drop this row, or re-run with --resend-unknown", op.ID)
			}
			continue // a plain update is idempotent: resent
		case mapping.Reply:
			out[i] = unknown("the reply to ticket %d may or may not have been added (a reply cannot be looked up); not resent: check the ticket, then fix or drop this row, or re-run with --resend-unknown", op.ID)
			continue
		}
		email := strings.TrimSpace(op.Create.Email)
		if email == "" {
			out[i] = unknown("the create may or may not have reached Udesk and the row has no email to look the customer's tickets up by; not resent: check Udesk, then drop this row or re-run with --resend-unknown")
			continue
		}
		key := strings.ToLower(email)
		if byEmail[key] == nil {
			emails = append(emails, email)
		}
		byEmail[key] = append(byEmail[key], i)
	}
	for _, email := range emails {
		rows := byEmail[strings.ToLower(email)]
		tickets, err := s.customerTickets(ctx, email)
		var ue *udesk.Error
		switch {
		case errors.As(err, &ue) && ue.Class == udesk.Permanent && (ue.Code == udesk.StatusCustomerNotFound || ue.Code == udesk.StatusReplyCustomerNotFound):
			// No customer with this email: a create would have made one,
			// unless it went to a customer found by token or cellphone first.
			for _, i := range rows {
				if t := todo[i].op.Create; t.CustomerToken != "" || t.Cellphone != "" {
					out[i] = unknown("the create may or may not have reached Udesk: no customer has email %s, and the ticket may belong to the customer found by customer_token or cellphone; not resent", email)
				}
			}
		case errors.Is(err, errListingMoved):
			for _, i := range rows {
				out[i] = unknown("the create may or may not have reached Udesk: %s's tickets kept changing while they were listed, so a missing ticket proves nothing; not resent: check Udesk, then drop this row or re-run with --resend-unknown", email)
			}
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%s: looking up the tickets of %s to settle a create whose outcome is unknown: %w", todo[rows[0]].op.Pos, email, err)
		default:
			s.mu.Lock()
			s.match(todo, rows, tickets, out)
			s.mu.Unlock()
		}
	}
	return out, nil
}

// match decides the creates todo[rows] (one customer's, in row order) from
// that customer's tickets. Rows are linked when some unclaimed ticket looks
// like both; each linked group is decided as a whole: a ticket that no row
// of the group matches in every field, or that rows which differ match
// alike, leaves the whole group unknown; otherwise each ticket goes to a row
// that matches it in every field (rows that do are identical), and the rows
// left without one are absent. s.mu is held.
func (s *sender) match(todo []doubt, rows []int, tickets []udesk.Ticket, out []decision) {
	mf := s.opts.markerField
	full := make([]map[int64]bool, len(rows)) // tickets row k matches in every field
	alike := map[int64][]int{}                // ticket -> the rows (k) it looks like
	var order []int64                         // those tickets, by id
	for k, i := range rows {
		d := todo[i]
		since := d.intent.At.Add(-createdAtMargin).Truncate(time.Second)
		full[k] = map[int64]bool{}
		for j := range tickets {
			tk := &tickets[j]
			if s.claimed[tk.ID] || !looksLike(tk, d.op.Create, mf, d.intent.Key, since) {
				continue
			}
			if alike[tk.ID] == nil {
				order = append(order, tk.ID)
			}
			alike[tk.ID] = append(alike[tk.ID], k)
			if (mf != "" && d.intent.Key != "") || sameFields(tk, d.op.Create, mf) {
				full[k][tk.ID] = true
			}
		}
	}
	slices.Sort(order)
	order = slices.Compact(order)
	group := linkRows(len(rows), alike)
	why := map[int]string{} // group -> why its rows cannot be decided
	for _, id := range order {
		g := group[alike[id][0]]
		if why[g] != "" {
			continue
		}
		var owners []int
		for _, k := range alike[id] {
			if full[k][id] {
				owners = append(owners, k)
			}
		}
		if len(owners) == 0 {
			why[g] = fmt.Sprintf("ticket %d has its subject and content but other field values (changed since it was created?)", id)
			continue
		}
		for _, k := range owners[1:] {
			if !reflect.DeepEqual(todo[rows[owners[0]]].op.Create, todo[rows[k]].op.Create) {
				why[g] = fmt.Sprintf("ticket %d matches rows %d and %d, which differ only in what a ticket does not show", id, todo[rows[owners[0]]].op.Pos.Row, todo[rows[k]].op.Pos.Row)
				break
			}
		}
	}
	taken := make([]bool, len(rows))
	for _, id := range order {
		if why[group[alike[id][0]]] != "" {
			continue
		}
		for k := range rows {
			if !taken[k] && full[k][id] {
				taken[k] = true
				out[rows[k]] = decision{v: verdictFound, id: id}
				break
			}
		}
	}
	for k, i := range rows {
		t := todo[i].op.Create
		switch {
		case why[group[k]] != "":
			out[i] = unknown("the create may or may not have reached Udesk and cannot be told apart from its look-alikes: %s; not resent: check Udesk, then drop this row or re-run with --resend-unknown (and use --marker-field so that every create can be found)", why[group[k]])
		case !taken[k] && t.CustomerToken != "":
			out[i] = unknown("the create may or may not have reached Udesk: %s has no such ticket, but the ticket may belong to the customer with this customer_token; not resent", t.Email)
		}
	}
}

// linkRows groups rows that share a look-alike ticket: it returns each
// row's group (the smallest row index of the group).
func linkRows(n int, alike map[int64][]int) []int {
	group := make([]int, n)
	for k := range group {
		group[k] = k
	}
	find := func(k int) int {
		for group[k] != k {
			k = group[k]
		}
		return k
	}
	for _, ks := range alike {
		for _, k := range ks[1:] {
			a, b := find(ks[0]), find(k)
			group[max(a, b)] = min(a, b)
		}
	}
	for k := range group {
		group[k] = find(k)
	}
	return group
}

// looksLike says whether a listed ticket may be the one a create made: by
// marker when there is one, else by subject, content and creation time.
func looksLike(tk *udesk.Ticket, t *udesk.NewTicket, markerField, key string, since time.Time) bool {
	if markerField != "" && key != "" {
		return tk.CustomFields[markerField] == key
	}
	if norm(tk.Subject) != norm(t.Subject) || norm(tk.Content) != norm(t.Content) {
		return false
	}
	if c, err := time.Parse(udesk.TimestampLayout, tk.CreatedAt); err == nil && c.Before(since) {
		return false
	}
	return true
}

// sameFields says whether a ticket, as the API reads it back, has every
// field value a create set. Status is written in Chinese and read in
// English; priority and select options (indexes) read as written.
func sameFields(tk *udesk.Ticket, t *udesk.NewTicket, markerField string) bool {
	if t.Status != "" && !sameName(mapping.LookupStatus, t.Status, tk.Status) {
		return false
	}
	if t.Priority != "" && !sameName(mapping.LookupPriority, t.Priority, tk.Priority) {
		return false
	}
	if t.AgentGroupName != "" && norm(t.AgentGroupName) != norm(tk.UserGroupName) {
		return false
	}
	// The API reads the assignee back by name only.
	if a := t.Assignee; a != nil && a.Name != "" && norm(a.Name) != norm(tk.Assignee) {
		return false
	}
	for name, v := range t.TicketField {
		if name != markerField && !sameFieldValue(v, tk.CustomFields[name]) {
			return false
		}
	}
	return true
}

func sameName(lookup func(string) (mapping.ValueName, error), written, read string) bool {
	a, errA := lookup(written)
	b, errB := lookup(read)
	if errA != nil || errB != nil {
		return norm(written) == norm(read)
	}
	return a == b
}

// sameFieldValue compares a custom field's value as written and as read:
// option lists in any order, numbers by value.
func sameFieldValue(written, read string) bool {
	written, read = norm(written), norm(read)
	if written == read {
		return true
	}
	if a, err := strconv.ParseFloat(written, 64); err == nil {
		b, err := strconv.ParseFloat(read, 64)
		return err == nil && a == b
	}
	return slices.Equal(optionSet(written), optionSet(read))
}

func optionSet(s string) []string {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	slices.Sort(parts)
	return parts
}

func norm(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
}

// customerTickets reads every ticket of the customer with this email
// through the listing reader, one request at a time (a customer's tickets
// are a few pages; read in order, a listing of the oldest first proves it
// skipped none). errListingMoved when the read cannot show it holds every
// ticket that existed throughout: a ticket missing from it proves nothing.
func (s *sender) customerTickets(ctx context.Context, email string) ([]udesk.Ticket, error) {
	var all []udesk.Ticket
	_, err := listing.Each(ctx, s.api, udesk.Listing{CustomerEmail: email}, listing.EachOptions{Concurrency: 1}, func(ts []udesk.Ticket) error {
		all = append(all, ts...)
		return nil
	})
	var ie *listing.IncompleteError
	if errors.As(err, &ie) {
		return nil, errListingMoved
	}
	return all, err
}
