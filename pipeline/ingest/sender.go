package ingest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// ticketWriter is the part of the API the sender uses.
type ticketWriter interface {
	CreateTicket(ctx context.Context, t *udesk.NewTicket) (int64, error)
	UpdateTicket(ctx context.Context, id int64, u *udesk.TicketUpdate) error
	Reply(ctx context.Context, r *udesk.Reply) error
	Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error)
}

// Actions of success.csv's action column.
const (
	ActionCreated = "created"
	ActionUpdated = "updated"
	ActionReplied = "replied"
)

// result is the outcome of one row.
type result struct {
	row        int
	ticketID   int64  // the created, updated or replied-to ticket
	action     string // set on success
	code       string // set on failure
	message    string
	reconciled bool     // a create found on the server after its outcome was unknown
	cells      []string // the input row's cells, for success.csv
}

func resultOf(e pipeline.JournalEntry, reconciled bool) result {
	return result{row: e.Row, ticketID: e.TicketID, action: e.Action, code: e.Code, message: e.Message, reconciled: reconciled}
}

type senderOptions struct {
	journal     *pipeline.Journal
	concurrency int // writes in flight at once (the client caps requests too)
	// markerField, for creates, is the field_name of a text custom field that
	// receives a unique marker per row (udesk-etl:<run>:<row>) so that an
	// unknown outcome is settled by the marker rather than by content.
	markerField string
	runID       string
	// onResult receives every settled row, from several goroutines.
	onResult func(result)
}

// createdAtMargin is how far before an intent's time a found ticket's
// created_at may be and still count as the intent's: clocks differ.
const createdAtMargin = 10 * time.Minute

// maxSettleRounds bounds how often one row is settled and resent in a run
// when each resend ends with an unknown outcome again.
const maxSettleRounds = 3

// sender sends create, update and reply operations exactly once: every
// write is preceded by a durable intent in the journal and followed by its
// outcome; a write whose outcome is unknown is settled (looked up) before it
// is ever resent, once no other write is in flight. startSender makes one
// with the tickets earlier runs created; then send each row, then close.
type sender struct {
	api    ticketWriter
	opts   senderOptions
	parent context.Context // the run's: settling goes on after the workers
	g      *errgroup.Group
	ctx    context.Context // the workers': ends at the first error

	mu       sync.Mutex
	claimed  map[int64]bool // tickets that belong to some row already
	doubtful []doubt        // rows whose outcome is unknown, settled in close
	resent   map[int]int    // settle rounds per row
	settled  int            // rows settled by a look-up
}

type doubt struct {
	op     mapping.Operation
	intent pipeline.JournalEntry
}

// startSender returns a sender whose workers stop when ctx ends or close is
// called. claimed are the tickets earlier runs of the import created: settling
// an unknown create never takes one of them for its own.
func startSender(ctx context.Context, api ticketWriter, opts senderOptions, claimed []int64) *sender {
	s := &sender{api: api, opts: opts, parent: ctx, claimed: map[int64]bool{}, resent: map[int]int{}}
	for _, id := range claimed {
		s.claimed[id] = true
	}
	s.g, s.ctx = errgroup.WithContext(ctx)
	s.g.SetLimit(max(1, opts.concurrency))
	return s
}

// send writes op, blocking while every worker is busy. When prior is the
// intent an earlier run journaled without learning the outcome, op is held
// and settled in close, once nothing else is in flight. send returns an
// error once the run cannot go on (the context ended, the journal failed,
// Udesk is unavailable).
func (s *sender) send(op mapping.Operation, prior pipeline.JournalEntry) error {
	if prior.Type == pipeline.EntryIntent {
		s.doubt(op, prior)
		return nil
	}
	if s.ctx.Err() != nil {
		return context.Cause(s.ctx)
	}
	s.g.Go(func() error {
		if s.ctx.Err() != nil {
			return nil
		}
		return s.write(s.ctx, op)
	})
	return nil
}

func (s *sender) doubt(op mapping.Operation, intent pipeline.JournalEntry) {
	s.mu.Lock()
	s.doubtful = append(s.doubtful, doubt{op, intent})
	s.mu.Unlock()
}

// close waits for the writes in flight, then settles the rows whose outcome
// is unknown one at a time, resending those proven not to have taken effect.
func (s *sender) close() error {
	if err := s.g.Wait(); err != nil {
		return err
	}
	if s.parent.Err() != nil {
		return context.Cause(s.parent)
	}
	for {
		s.mu.Lock()
		todo := s.doubtful
		s.doubtful = nil
		s.mu.Unlock()
		if len(todo) == 0 {
			return nil
		}
		sort.Slice(todo, func(i, k int) bool { return todo[i].op.Pos.Row < todo[k].op.Pos.Row })
		for _, d := range todo {
			if err := s.settle(s.parent, d); err != nil {
				return err
			}
		}
	}
}

// write sends one row: intent, request, outcome.
func (s *sender) write(ctx context.Context, op mapping.Operation) error {
	row := op.Pos.Row
	intent := pipeline.JournalEntry{Type: pipeline.EntryIntent, Row: row, At: time.Now()}
	if op.Kind == mapping.Create && s.opts.markerField != "" {
		// An upsert's create carries its key, which is its marker.
		if intent.Key = op.Create.TicketField[s.opts.markerField]; intent.Key == "" {
			intent.Key = marker(s.opts.runID, row)
			if op.Create.TicketField == nil {
				op.Create.TicketField = map[string]string{}
			}
			op.Create.TicketField[s.opts.markerField] = intent.Key
		}
	}
	if err := s.opts.journal.Append(intent); err != nil {
		return err
	}
	var id int64
	var action string
	var err error
	switch op.Kind {
	case mapping.Create:
		action = ActionCreated
		id, err = s.api.CreateTicket(ctx, op.Create)
	case mapping.Update:
		action, id = ActionUpdated, op.ID
		err = s.api.UpdateTicket(ctx, op.ID, op.Update)
	case mapping.Reply:
		action, id = ActionReplied, op.ID
		err = s.api.Reply(ctx, op.Reply)
	default:
		return fmt.Errorf("%s: unknown operation kind %d", op.Pos, op.Kind)
	}
	switch {
	case err == nil:
		if op.Kind == mapping.Create {
			s.mu.Lock()
			s.claimed[id] = true
			s.mu.Unlock()
		}
		return s.finish(pipeline.JournalEntry{Type: pipeline.EntryOK, Row: row, TicketID: id, Action: action}, false)
	case ctx.Err() != nil:
		// Interrupted: the request may be on the wire. The intent stays
		// without an outcome and the next run settles it.
		return nil
	case udesk.IsOutcomeUnknown(err):
		s.doubt(op, intent)
		return nil
	case udesk.IsTransient(err):
		// Not taken (throttled or unreachable after every retry): the row
		// is sent again by the next run; this one stops.
		if jerr := s.opts.journal.Append(pipeline.JournalEntry{Type: pipeline.EntryVoid, Row: row}); jerr != nil {
			return jerr
		}
		return fmt.Errorf("%s: Udesk is unavailable (%w); run the same command again to resume", op.Pos, err)
	default:
		code, msg := errorCode(err)
		return s.finish(pipeline.JournalEntry{Type: pipeline.EntryFail, Row: row, TicketID: op.ID, Code: code, Message: msg}, false)
	}
}

// finish journals an outcome and reports it.
func (s *sender) finish(e pipeline.JournalEntry, reconciled bool) error {
	if err := s.opts.journal.Append(e); err != nil {
		return err
	}
	if s.opts.onResult != nil {
		s.opts.onResult(resultOf(e, reconciled))
	}
	return nil
}

// settle decides one row whose outcome is unknown, and resends it when the
// write provably did not take effect.
func (s *sender) settle(ctx context.Context, d doubt) error {
	row := d.op.Pos.Row
	v, found, why, err := s.lookup(ctx, d)
	if err != nil {
		return err
	}
	switch v {
	case verdictFound:
		s.mu.Lock()
		s.claimed[found] = true
		s.settled++
		s.mu.Unlock()
		return s.finish(pipeline.JournalEntry{Type: pipeline.EntryOK, Row: row, TicketID: found, Action: ActionCreated, Key: d.intent.Key}, true)
	case verdictUnknown:
		return s.finish(pipeline.JournalEntry{Type: pipeline.EntryUnknown, Row: row, TicketID: d.op.ID, Code: CodeOutcomeUnknown, Message: why}, false)
	}
	s.mu.Lock()
	s.resent[row]++
	rounds := s.resent[row]
	s.mu.Unlock()
	if rounds > maxSettleRounds {
		// Still in doubt after several resends: leave the intent for the
		// next run rather than loop.
		return nil
	}
	if err := s.opts.journal.Append(pipeline.JournalEntry{Type: pipeline.EntryVoid, Row: row}); err != nil {
		return err
	}
	return s.write(ctx, d.op)
}

type verdict int

const (
	verdictAbsent  verdict = iota // provably not written: send (again)
	verdictFound                  // the create is on the server
	verdictUnknown                // cannot tell: report, never resend silently
)

// lookup finds out whether an unknown write took effect.
func (s *sender) lookup(ctx context.Context, d doubt) (verdict, int64, string, error) {
	op := d.op
	switch op.Kind {
	case mapping.Update:
		if op.Update.Comment == nil {
			return verdictAbsent, 0, "", nil // a plain update is idempotent
		}
		return verdictUnknown, 0, fmt.Sprintf("the update of ticket %d with a comment may or may not have been applied (a comment cannot be looked up); not resent: check the ticket, then fix or drop this row, or re-run with --resend-unknown", op.ID), nil
	case mapping.Reply:
		return verdictUnknown, 0, fmt.Sprintf("the reply to ticket %d may or may not have been added (a reply cannot be looked up); not resent: check the ticket, then fix or drop this row, or re-run with --resend-unknown", op.ID), nil
	}
	t := op.Create
	email := strings.TrimSpace(t.Email)
	if email == "" {
		return verdictUnknown, 0, "the create may or may not have reached Udesk and the row has no email to look the customer's tickets up by; not resent: check Udesk, then drop this row or re-run with --resend-unknown", nil
	}
	tickets, err := s.customerTickets(ctx, email)
	var ue *udesk.Error
	if errors.As(err, &ue) && ue.Class == udesk.Permanent && (ue.Code == 1002 || ue.Code == 1004) {
		// No customer with this email: a create would have made one,
		// unless it went to a customer found by token or cellphone first.
		if t.CustomerToken == "" && t.Cellphone == "" {
			return verdictAbsent, 0, "", nil
		}
		return verdictUnknown, 0, fmt.Sprintf("the create may or may not have reached Udesk: no customer has email %s, and the ticket may belong to the customer found by customer_token or cellphone; not resent", email), nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, 0, "", ctx.Err()
		}
		return 0, 0, "", fmt.Errorf("%s: looking up the tickets of %s to settle a create whose outcome is unknown: %w", op.Pos, email, err)
	}
	since := d.intent.At.Add(-createdAtMargin)
	var best int64
	s.mu.Lock()
	for _, tk := range tickets {
		if s.claimed[tk.ID] || !matches(&tk, t, s.opts.markerField, d.intent.Key, since) {
			continue
		}
		if best == 0 || tk.ID < best {
			best = tk.ID
		}
	}
	s.mu.Unlock()
	if best != 0 {
		return verdictFound, best, "", nil
	}
	if t.CustomerToken != "" {
		return verdictUnknown, 0, fmt.Sprintf("the create may or may not have reached Udesk: %s has no such ticket, but the ticket may belong to the customer with this customer_token; not resent", email), nil
	}
	return verdictAbsent, 0, "", nil
}

// matches says whether a listed ticket is the one a create made: by marker
// when there is one, else by subject, content and creation time.
func matches(tk *udesk.Ticket, t *udesk.NewTicket, markerField, key string, since time.Time) bool {
	if markerField != "" && key != "" {
		return tk.CustomFields[markerField] == key
	}
	if norm(tk.Subject) != norm(t.Subject) || norm(tk.Content) != norm(t.Content) {
		return false
	}
	if c, err := time.Parse("2006-01-02 15:04:05 -0700", tk.CreatedAt); err == nil && c.Before(since.Truncate(time.Second)) {
		return false
	}
	return true
}

func norm(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
}

// customerTickets reads every ticket of the customer with this email.
func (s *sender) customerTickets(ctx context.Context, email string) ([]udesk.Ticket, error) {
	var all []udesk.Ticket
	for page := 1; ; page++ {
		p, err := s.api.Page(ctx, udesk.Listing{CustomerEmail: email}, page, 100)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Tickets...)
		if len(p.Tickets) == 0 || page >= p.TotalPages {
			return all, nil
		}
	}
}

// marker is the value a create carries in the marker field.
func marker(runID string, row int) string {
	return "udesk-etl:" + runID + ":" + strconv.Itoa(row)
}

// errorCode turns an API error into errors.csv's error_code and message.
func errorCode(err error) (string, string) {
	var ue *udesk.Error
	if errors.As(err, &ue) {
		msg := strings.TrimPrefix(ue.Error(), "udesk: ")
		if ue.Code != 0 {
			return "api_" + strconv.Itoa(ue.Code), msg
		}
		if ue.HTTPStatus != 0 {
			return "http_" + strconv.Itoa(ue.HTTPStatus), msg
		}
		return CodeAPIError, msg
	}
	return CodeAPIError, err.Error()
}
