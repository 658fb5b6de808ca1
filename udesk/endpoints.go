package udesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// Page reads one page of a ticket listing: every ticket, one customer's
// (l.CustomerEmail) or one filter's (l.FilterID, seen by l.AgentID). page and
// perPage are sent when not 0 (the API's defaults are 1 and 20; perPage must
// be 1..100). Page.Raw holds the reply body as received.
func (c *Client) Page(ctx context.Context, l Listing, page, perPage int) (*Page, error) {
	return readListing(ctx, c, l, page, perPage, decodePage)
}

// PageHead reads one page of a ticket listing as Page does, but decodes only
// its counts and its tickets' ids and creation times (DecodePageHead): what
// paging needs, at a fraction of a full decode, for a caller that keeps the
// body and decodes it later.
func (c *Client) PageHead(ctx context.Context, l Listing, page, perPage int) (*PageHead, error) {
	return readListing(ctx, c, l, page, perPage, decodePageHead)
}

// readListing reads one page of listing l with decode.
func readListing[P any](ctx context.Context, c *Client, l Listing, page, perPage int, decode func([]byte) (*P, *envelope, error)) (*P, error) {
	var p *P
	cl, err := listingCall(l, page, perPage, func(b []byte) (*envelope, error) {
		var env *envelope
		var err error
		p, env, err = decode(b)
		return env, err
	})
	if err == nil {
		err = c.do(ctx, cl)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// listingCall is the request for one page of listing l.
func listingCall(l Listing, page, perPage int, decode func([]byte) (*envelope, error)) (*call, error) {
	q := url.Values{}
	if page != 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if perPage != 0 {
		q.Set("per_page", strconv.Itoa(perPage))
	}
	cl := &call{method: "GET", path: "/api/v1/tickets.json", query: q, idempotent: true, decode: decode}
	switch {
	case l.CustomerEmail != "" && l.FilterID != 0:
		return nil, errors.New("udesk: a listing is of a customer or of a filter, not both")
	case l.AgentID != 0 && l.FilterID == 0:
		return nil, errors.New("udesk: a listing's AgentID needs a FilterID")
	case l.CustomerEmail != "":
		cl.method, cl.path = "POST", "/api/v1/tickets/get.json"
		cl.body = mustJSON(map[string]string{"email": l.CustomerEmail})
	case l.FilterID != 0:
		cl.path = fmt.Sprintf("/api/v1/ticket_filters/%d/tickets.json", l.FilterID)
		if l.AgentID != 0 {
			q.Set("agent_id", strconv.FormatInt(l.AgentID, 10))
		}
	}
	return cl, nil
}

// Ticket reads one ticket.
func (c *Client) Ticket(ctx context.Context, id int64) (*Ticket, error) {
	var r struct {
		envelope
		Contents *Ticket `json:"contents"`
	}
	cl := &call{method: "GET", path: fmt.Sprintf("/api/v1/tickets/%d.json", id), idempotent: true,
		decode: func(b []byte) (*envelope, error) {
			r.envelope, r.Contents = envelope{}, nil
			err := json.Unmarshal(b, &r)
			if err == nil && r.Status == StatusOK && r.Contents == nil {
				err = errors.New(`no "contents" object`)
			}
			return &r.envelope, err
		}}
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return r.Contents, nil
}

// CreateTicket creates a ticket and returns its id. It is never resent once
// it may have reached the server: a *Error with IsOutcomeUnknown true means
// the ticket may or may not exist.
func (c *Client) CreateTicket(ctx context.Context, t *NewTicket) (int64, error) {
	var r struct {
		envelope
		TicketID flexInt `json:"ticket_id"`
	}
	cl := &call{method: "POST", path: "/api/v1/tickets.json",
		body: mustJSON(map[string]*NewTicket{"ticket": t}),
		decode: func(b []byte) (*envelope, error) {
			r.envelope, r.TicketID = envelope{}, 0
			err := json.Unmarshal(b, &r)
			if err == nil && r.Status == StatusOK && r.TicketID <= 0 {
				err = errors.New(`success without a "ticket_id"`)
			}
			return &r.envelope, err
		}}
	if err := c.do(ctx, cl); err != nil {
		return 0, err
	}
	return int64(r.TicketID), nil
}

// UpdateTicket changes a ticket. Without a Comment it is idempotent and
// retried like a read; with one it adds a reply and is never resent once it
// may have reached the server.
func (c *Client) UpdateTicket(ctx context.Context, id int64, u *TicketUpdate) error {
	return c.do(ctx, &call{method: "PUT", path: fmt.Sprintf("/api/v1/tickets/%d.json", id),
		body:       mustJSON(map[string]*TicketUpdate{"ticket": u}),
		idempotent: u.Comment == nil, decode: envelopeOnly})
}

// Reply adds a customer reply to a ticket; never resent once it may have
// reached the server.
func (c *Client) Reply(ctx context.Context, r *Reply) error {
	return c.do(ctx, &call{method: "POST", path: "/api/v1/tickets/reply.json",
		body: mustJSON(r), decode: envelopeOnly})
}

// Fields reads the ticket field catalog.
func (c *Client) Fields(ctx context.Context) ([]Field, error) {
	var r struct {
		envelope
		Fields *[]Field `json:"ticket_fields"`
	}
	cl := &call{method: "GET", path: "/api/v2/ticket_fields.json", idempotent: true,
		decode: func(b []byte) (*envelope, error) {
			r.envelope, r.Fields = envelope{}, nil
			err := json.Unmarshal(b, &r)
			if err == nil && r.Status == StatusOK && r.Fields == nil {
				err = errors.New(`no "ticket_fields" array`)
			}
			return &r.envelope, err
		}}
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return *r.Fields, nil
}

// Filters lists the ticket filters: one agent's when agentID is not 0,
// otherwise the company's.
func (c *Client) Filters(ctx context.Context, agentID int64) ([]Filter, error) {
	q := url.Values{}
	if agentID != 0 {
		q.Set("agent_id", strconv.FormatInt(agentID, 10))
	}
	var r struct {
		envelope
		Contents []Filter `json:"contents"`
	}
	cl := &call{method: "GET", path: "/api/v1/ticket_filters.json", query: q, idempotent: true,
		decode: func(b []byte) (*envelope, error) {
			r.envelope, r.Contents = envelope{}, nil
			err := json.Unmarshal(b, &r)
			return &r.envelope, err
		}}
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return r.Contents, nil
}

func envelopeOnly(b []byte) (*envelope, error) {
	var env envelope
	err := json.Unmarshal(b, &env)
	return &env, err
}

// mustJSON encodes a request body; the types encoded cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("udesk: encoding request body: " + err.Error())
	}
	return b
}
