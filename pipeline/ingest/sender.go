package ingest

import (
	"context"
	"errors"
	"fmt"
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
	reconciled bool // a create found on the server after its outcome was unknown
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
// is unknown, resending those proven not to have taken effect.
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
		if err := s.settleRound(s.parent, todo); err != nil {
			return err
		}
	}
}

// write sends one row: intent, request, outcome.
func (s *sender) write(ctx context.Context, op mapping.Operation) error {
	row := op.Pos.Row
	intent := pipeline.JournalEntry{Type: pipeline.EntryIntent, Row: row, At: time.Now()}
	if op.Kind == mapping.Create && s.opts.markerField != "" {
		intent.Key = marker(s.opts.runID, row)
		if op.Create.TicketField == nil {
			op.Create.TicketField = map[string]string{}
		}
		op.Create.TicketField[s.opts.markerField] = intent.Key
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
