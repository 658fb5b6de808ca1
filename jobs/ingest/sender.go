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

	"github.com/udesk-etl/udesk-etl/jobs/listing"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// ticketWriter is the part of the API the sender uses.
type ticketWriter interface {
	CreateTicket(ctx context.Context, t *udesk.NewTicket) (int64, error)
	UpdateTicket(ctx context.Context, id int64, u *udesk.TicketUpdate) error
	Reply(ctx context.Context, r *udesk.Reply) error
	listing.Lister // a customer's tickets, to settle a create in doubt
}

// Actions of success.csv's action column.
const (
	ActionCreated = "created"
	ActionUpdated = "updated"
	ActionReplied = "replied"
)

// result is the outcome of one row.
type result struct {
	row      int
	ticketID int64  // the created, updated or replied-to ticket
	action   string // set on success
	code     string // set on failure
	message  string
	// foundBy: how a create whose outcome was unknown was found on the
	// server (foundByMarker, foundByMatch), "" otherwise.
	foundBy string
	cells   []string // the input row's cells, for success.csv
	earlier bool     // written by an earlier run of the import
}

// How a create in doubt was found.
const (
	foundByMarker = "marker"
	foundByMatch  = "match"
)

func resultOf(e pipeline.JournalEntry, foundBy string) result {
	return result{row: e.Row, ticketID: e.TicketID, action: e.Action, code: e.Code, message: e.Message, foundBy: foundBy}
}

type senderOptions struct {
	journal     *pipeline.Journal
	concurrency int // writes in flight at once (the client caps requests too)
	// abort ends the writes already sent; the context given to startSender
	// only stops new ones (nil: it does both).
	abort context.Context
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
// write is preceded by a durable intent in the journal, written when its
// request holds its turn and is about to leave, and followed by its outcome;
// a write whose outcome is unknown is settled (looked up) before it is ever
// resent, once no other write is in flight. startSender makes one
// with the tickets earlier runs created; then send each row, then close.
type sender struct {
	api    ticketWriter
	opts   senderOptions
	parent context.Context // the run's: settling goes on after the workers
	abort  context.Context // ends requests already sent
	g      *errgroup.Group
	ctx    context.Context // the workers': ends at the first error

	mu       sync.Mutex
	claimed  map[int64]bool // tickets that belong to some row already
	doubtful []doubt        // rows whose outcome is unknown, settled in close
	resent   map[int]int    // settle rounds per row
	settled  int            // rows settled by a look-up
	voided   int            // intents proven not sent or not applied
}

type doubt struct {
	op     mapping.Operation
	intent pipeline.JournalEntry
}

// startSender returns a sender whose workers stop sending when ctx ends or
// at the first error; a write already sent still gets its outcome unless
// opts.abort ends too. claimed are the tickets earlier runs of the import created: settling
// an unknown create never takes one of them for its own.
func startSender(ctx context.Context, api ticketWriter, opts senderOptions, claimed []int64) *sender {
	s := &sender{api: api, opts: opts, parent: ctx, abort: opts.abort, claimed: map[int64]bool{}, resent: map[int]int{}}
	if s.abort == nil {
		s.abort = ctx
	}
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

// write sends one row: intent, request, outcome. The intent is journaled
// only when the request is about to leave (see onWire): a write stopped
// while it waited for its turn leaves nothing in the journal.
func (s *sender) write(stop context.Context, op mapping.Operation) error {
	row := op.Pos.Row
	intent := pipeline.JournalEntry{Type: pipeline.EntryIntent, Row: row}
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
	ctx, w, done := s.onWire(stop, intent)
	defer done()
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
	intent, sent, jerr := w.state()
	switch {
	case jerr != nil:
		return jerr
	case !sent:
		// Stopped before its turn came: never sent, nothing journaled.
		return nil
	case err == nil:
		if op.Kind == mapping.Create {
			s.mu.Lock()
			s.claimed[id] = true
			s.mu.Unlock()
		}
		return s.finish(pipeline.JournalEntry{Type: pipeline.EntryOK, Row: row, TicketID: id, Action: action}, "")
	case udesk.IsOutcomeUnknown(err):
		if s.abort.Err() != nil {
			// Aborted on the wire: the intent stays open and the next run
			// settles it.
			return nil
		}
		s.doubt(op, intent)
		return nil
	case udesk.IsTransient(err):
		// Not taken (throttled, unreachable, or aborted before it left):
		// the row is sent again by the next run; this one stops.
		if jerr := s.opts.journal.Append(pipeline.JournalEntry{Type: pipeline.EntryVoid, Row: row}); jerr != nil {
			return jerr
		}
		s.mu.Lock()
		s.voided++
		s.mu.Unlock()
		if s.abort.Err() != nil {
			return nil
		}
		return fmt.Errorf("%s: Udesk is unavailable (%w); run the same command again to resume", op.Pos, err)
	default:
		code, msg := errorCode(err)
		return s.finish(pipeline.JournalEntry{Type: pipeline.EntryFail, Row: row, TicketID: op.ID, Code: code, Message: msg}, "")
	}
}

// wire is one write's passage onto the network.
type wire struct {
	mu     sync.Mutex
	intent pipeline.JournalEntry
	sent   bool  // the intent is journaled and the request left (or is leaving)
	err    error // the journal's, when the intent could not be written
}

func (w *wire) state() (pipeline.JournalEntry, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.intent, w.sent, w.err
}

// onWire returns the context of one write's request. The client calls back
// when the request holds its slot and budget token and is about to leave
// (udesk.WithBeforeSend): the intent is journaled then, and from then on
// only the abort context ends the request, so that a write on the wire gets
// its outcome; before, stop ends it unsent. done releases the context.
func (s *sender) onWire(stop context.Context, intent pipeline.JournalEntry) (ctx context.Context, w *wire, done func()) {
	ctx, cancel := context.WithCancel(s.abort)
	w = &wire{intent: intent}
	unhook := context.AfterFunc(stop, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.sent {
			cancel()
		}
	})
	ctx = udesk.WithBeforeSend(ctx, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.sent {
			return nil // a retry: the intent is journaled
		}
		if err := stop.Err(); err != nil {
			return err
		}
		w.intent.At = time.Now()
		if err := s.opts.journal.Append(w.intent); err != nil {
			w.err = err
			return err
		}
		w.sent = true
		return nil
	})
	return ctx, w, func() { unhook(); cancel() }
}

// voidedCount is how many writes were proven never sent or not applied.
func (s *sender) voidedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.voided
}

// finish journals an outcome and reports it; foundBy says how a row in
// doubt was found written ("" when it was not in doubt).
func (s *sender) finish(e pipeline.JournalEntry, foundBy string) error {
	if err := s.opts.journal.Append(e); err != nil {
		return err
	}
	if s.opts.onResult != nil {
		s.opts.onResult(resultOf(e, foundBy))
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
