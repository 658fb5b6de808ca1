package udesk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/bytedance/sonic"
)

// The API's replies are decoded tolerantly: JSON nulls become zero values,
// ids may be numbers or strings, custom field values may be numbers, booleans
// or null. The common case (everything well typed) takes a fast path with
// plain Go types; only a reply that fails it is decoded again field by field.
//
// A listing page, the export's main cost, takes its fast path with sonic
// rather than encoding/json: on a page of 100 tickets (medians of 20 runs on
// a busy 2-core machine) encoding/json took 3.5 ms (5,398 allocations), json
// v2 2.3 ms, goccy/go-json 1.3 ms (3,005), sonic 1.3 ms (701), and the
// hand-written decoder this replaces 0.9 ms (729): 1.4x, too small a gain for
// 540 lines of unsafe code (goccy differs from encoding/json on keys in
// another case, control characters and invalid UTF-8).
// Sonic validates strings as encoding/json does (invalid UTF-8 or a control
// character fails the fast path) but does not copy them: they share the body,
// which Page.Raw keeps anyway. Where sonic has no JIT (another architecture,
// a Go release it does not know yet) it is encoding/json underneath.

// envelope is what every reply carries.
type envelope struct {
	Status    flexInt    `json:"status"`
	Message   flexString `json:"message"`
	ErrorText flexString `json:"error"`
}

// flexString accepts a string, a number or boolean (as its JSON text), null
// (""), or an object or array (kept as compact JSON text, so nothing is lost).
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty value")
	}
	switch b[0] {
	case '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case 'n':
		*s = ""
	case '{', '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		*s = flexString(buf.String())
	default: // numbers, true, false: their JSON text
		*s = flexString(b)
	}
	return nil
}

// flexInt accepts an integer as a number (1, 1.0, 1e3) or a string ("1", ""),
// and null (0).
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty value")
	}
	txt := string(b)
	switch b[0] {
	case 'n':
		*n = 0
		return nil
	case '"':
		if err := json.Unmarshal(b, &txt); err != nil {
			return err
		}
		txt = strings.TrimSpace(txt)
		if txt == "" {
			*n = 0
			return nil
		}
	}
	v, err := parseInt(txt)
	if err != nil {
		return err
	}
	*n = flexInt(v)
	return nil
}

func parseInt(s string) (int64, error) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return int64(f), nil
}

// flexBool accepts true/false, 0/1, their string forms and null (false).
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(string(s))) {
	case "true", "1":
		*v = true
	case "false", "0", "":
		*v = false
	default:
		return fmt.Errorf("%s is not a boolean", b)
	}
	return nil
}

// flexFields is custom_fields decoded tolerantly: values that are numbers
// or booleans become their JSON text, null becomes "".
type flexFields CustomFields

func (cf *flexFields) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*cf = nil
		return nil
	}
	var plain map[string]string
	err := json.Unmarshal(b, &plain)
	if err == nil {
		*cf = plain
		return nil
	}
	if !isTypeError(err) {
		return err
	}
	var flex map[string]flexString
	if err := json.Unmarshal(b, &flex); err != nil {
		return err
	}
	m := make(flexFields, len(flex))
	for k, v := range flex {
		m[k] = string(v)
	}
	*cf = m
	return nil
}

func isTypeError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}

// ticketFast is Ticket without its UnmarshalJSON: the fast path, plain
// types only.
type ticketFast Ticket

// ticketFlex is Ticket with tolerant types, made from Ticket's own fields
// (a string as flexString, an int64 as flexInt, the custom fields as
// flexFields, the same JSON names), so that the wire shape is declared
// once: the slow path.
var ticketFlex = func() reflect.Type {
	tolerant := map[reflect.Type]reflect.Type{
		reflect.TypeFor[string]():       reflect.TypeFor[flexString](),
		reflect.TypeFor[int64]():        reflect.TypeFor[flexInt](),
		reflect.TypeFor[CustomFields](): reflect.TypeFor[flexFields](),
	}
	t := reflect.TypeFor[Ticket]()
	fields := make([]reflect.StructField, t.NumField())
	for i := range fields {
		f := t.Field(i)
		flex, ok := tolerant[f.Type]
		if !ok {
			panic("udesk: no tolerant decoding for Ticket." + f.Name + " of type " + f.Type.String())
		}
		fields[i] = reflect.StructField{Name: f.Name, Type: flex, Tag: f.Tag}
	}
	return reflect.StructOf(fields)
}()

// UnmarshalJSON decodes a ticket tolerantly (see the top of this file).
func (t *Ticket) UnmarshalJSON(b []byte) error {
	var fast ticketFast
	err := json.Unmarshal(b, &fast)
	if err == nil {
		*t = Ticket(fast)
		return nil
	}
	if !isTypeError(err) {
		return err
	}
	flex := reflect.New(ticketFlex)
	if err := json.Unmarshal(b, flex.Interface()); err != nil {
		return err
	}
	v, out := flex.Elem(), reflect.ValueOf(t).Elem()
	for i := range v.NumField() {
		out.Field(i).Set(v.Field(i).Convert(out.Field(i).Type()))
	}
	return nil
}

type pageFast struct {
	envelope
	Size       int          `json:"size"`
	Total      int          `json:"total"`
	TotalPages int          `json:"total_pages"`
	Contents   []ticketFast `json:"contents"`
}

type pageFlex struct {
	envelope
	Size       flexInt  `json:"size"`
	Total      flexInt  `json:"total"`
	TotalPages flexInt  `json:"total_pages"`
	Contents   []Ticket `json:"contents"`
}

// decodePage decodes a listing reply; the envelope is returned even when the
// rest failed to decode, when it could be read.
func decodePage(body []byte) (*Page, *envelope, error) {
	// Room for a full page up front: decoding grows the slice otherwise,
	// copying it several times.
	fast := pageFast{Contents: make([]ticketFast, 0, 100)}
	if unmarshalShared(body, &fast) == nil {
		return fast.page(body), &fast.envelope, nil
	}
	return decodePageStd(body)
}

// unmarshalShared decodes body with pageJSON without copying it first (as
// pageJSON.Unmarshal does): the strings decoded share body's bytes, which the
// callers keep as Raw and never change.
func unmarshalShared(body []byte, v any) error {
	if len(body) == 0 {
		return pageJSON.Unmarshal(body, v)
	}
	return pageJSON.UnmarshalFromString(unsafe.String(&body[0], len(body)), v)
}

// pageJSON decodes a listing page's fast path (see the top of this file).
var pageJSON = sonic.Config{ValidateString: true}.Froze()

func (fast *pageFast) page(body []byte) *Page {
	p := &Page{Size: fast.Size, Total: fast.Total, TotalPages: fast.TotalPages, Raw: body}
	if len(fast.Contents) > 0 {
		p.Tickets = make([]Ticket, len(fast.Contents))
		for i := range fast.Contents {
			p.Tickets[i] = Ticket(fast.Contents[i])
		}
	}
	return p
}

// decodePageStd is decodePage with encoding/json only: every reply the fast
// path refuses, and the reference it is checked against.
func decodePageStd(body []byte) (*Page, *envelope, error) {
	var fast pageFast
	err := json.Unmarshal(body, &fast)
	if err == nil {
		return fast.page(body), &fast.envelope, nil
	}
	if !isTypeError(err) {
		return nil, nil, err
	}
	var flex pageFlex
	if err := json.Unmarshal(body, &flex); err != nil {
		return nil, envelopeOf(body), err
	}
	return &Page{Size: int(flex.Size), Total: int(flex.Total), TotalPages: int(flex.TotalPages),
		Tickets: flex.Contents, Raw: body}, &flex.envelope, nil
}

// envelopeOf reads only the envelope of a reply, or nil.
func envelopeOf(body []byte) *envelope {
	var env envelope
	if json.Unmarshal(body, &env) != nil {
		return nil
	}
	return &env
}

// DecodePage decodes a listing reply body (as Page.Raw keeps it, e.g. from a
// spool) with the same decoder as Client.Page. A reply whose status is not 0
// gives a *Error of class Permanent.
func DecodePage(body []byte) (*Page, error) { return decodeReply(body, decodePage) }

// EncodePage writes a listing reply of one page holding tickets (status 0,
// its size and total theirs), as Udesk would send it: a ticket read by id
// is spooled in the shape of the listing's pages, so that every spooled
// body decodes with DecodePage. udesk alone writes the reply's shape.
func EncodePage(tickets []*Ticket) ([]byte, error) {
	if tickets == nil {
		tickets = []*Ticket{}
	}
	return json.Marshal(struct {
		Status     int       `json:"status"`
		Size       int       `json:"size"`
		Total      int       `json:"total"`
		TotalPages int       `json:"total_pages"`
		Contents   []*Ticket `json:"contents"`
	}{Size: len(tickets), Total: len(tickets), TotalPages: 1, Contents: tickets})
}

// decodeReply decodes a listing reply body with decode, as DecodePage says.
func decodeReply[P any](body []byte, decode func([]byte) (*P, *envelope, error)) (*P, error) {
	p, env, err := decode(body)
	if env != nil && env.Status != StatusOK {
		return nil, apiError(env, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("udesk: decoding a ticket page: %w", err)
	}
	return p, nil
}

func apiError(env *envelope, httpStatus int) *Error {
	return &Error{HTTPStatus: httpStatus, Code: int(env.Status), Message: string(env.Message),
		ErrorText: string(env.ErrorText), Class: Permanent}
}

// fieldWire is Field in the API's wire form.
type fieldWire struct {
	Name        flexString      `json:"field_name"`
	Label       flexString      `json:"field_label"`
	ContentType flexString      `json:"content_type"`
	Comment     flexString      `json:"comment"`
	Options     json.RawMessage `json:"options"`
	Permission  flexInt         `json:"permission"`
	Required    *flexBool       `json:"requirment"`
	Required2   *flexBool       `json:"requirement"` // the spec's table spells it so
}

// UnmarshalJSON decodes a catalog field. Options [{"0":"label"},...] decode in
// order into Options. Options that do not have that form, and every chained
// field's options (documented as malformed: never guessed at), are kept
// verbatim (compacted) in RawOptions instead; this is not an error.
func (f *Field) UnmarshalJSON(b []byte) error {
	var w fieldWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = Field{Name: string(w.Name), Label: string(w.Label), ContentType: string(w.ContentType),
		Comment: string(w.Comment), Permission: int(w.Permission)}
	switch {
	case w.Required != nil:
		f.Required = bool(*w.Required)
	case w.Required2 != nil:
		f.Required = bool(*w.Required2)
	}
	raw := bytes.TrimSpace(w.Options)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if f.ContentType != TypeChained {
		if opts, ok := decodeOptions(raw); ok {
			f.Options = opts
			return nil
		}
	}
	// Compacted, so that a catalog written indented reads back equal.
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return err
	}
	f.RawOptions = buf.Bytes()
	return nil
}

// decodeOptions reads [{"0":"label"},...] keeping order; each element must be
// an object with exactly one key whose value is a string or number.
func decodeOptions(raw []byte) ([]Option, bool) {
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return nil, false
	}
	opts := make([]Option, 0, len(elems))
	for _, e := range elems {
		var m map[string]json.RawMessage
		if json.Unmarshal(e, &m) != nil || len(m) != 1 {
			return nil, false
		}
		for k, v := range m {
			v = bytes.TrimSpace(v)
			if len(v) == 0 || (v[0] != '"' && v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
				return nil, false
			}
			var label flexString
			if label.UnmarshalJSON(v) != nil {
				return nil, false
			}
			opts = append(opts, Option{Index: k, Label: string(label)})
		}
	}
	return opts, true
}

// MarshalJSON writes a field in the API's wire form, so that ReadFields reads
// back what WriteFields wrote; RawOptions are written verbatim.
func (f Field) MarshalJSON() ([]byte, error) {
	var opts json.RawMessage
	switch {
	case len(f.RawOptions) > 0:
		opts = f.RawOptions
	case f.Options != nil:
		var b bytes.Buffer
		b.WriteByte('[')
		for i, o := range f.Options {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(o.Index)
			v, _ := json.Marshal(o.Label)
			b.WriteByte('{')
			b.Write(k)
			b.WriteByte(':')
			b.Write(v)
			b.WriteByte('}')
		}
		b.WriteByte(']')
		opts = b.Bytes()
	default:
		opts = json.RawMessage("null")
	}
	return json.Marshal(struct {
		Name        string          `json:"field_name"`
		Label       string          `json:"field_label"`
		ContentType string          `json:"content_type"`
		Comment     string          `json:"comment"`
		Options     json.RawMessage `json:"options"`
		Permission  int             `json:"permission"`
		Required    bool            `json:"requirment"`
	}{f.Name, f.Label, f.ContentType, f.Comment, opts, f.Permission, f.Required})
}

// UnmarshalJSON decodes a filter tolerantly (ids as strings, nulls).
func (f *Filter) UnmarshalJSON(b []byte) error {
	var w struct {
		ID          flexInt    `json:"id"`
		Name        flexString `json:"name"`
		Description flexString `json:"description"`
		Active      flexBool   `json:"active"`
		Permission  flexString `json:"permission"`
		TicketsURL  flexString `json:"tickets_url"`
		CreatedAt   flexString `json:"created_at"`
		UpdatedAt   flexString `json:"updated_at"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = Filter{ID: int64(w.ID), Name: string(w.Name), Description: string(w.Description),
		Active: bool(w.Active), Permission: string(w.Permission), TicketsURL: string(w.TicketsURL),
		CreatedAt: string(w.CreatedAt), UpdatedAt: string(w.UpdatedAt)}
	return nil
}

// WriteFields writes a field catalog as {"ticket_fields":[...]} (indented),
// the form ReadFields and `udesk-etl fields -o` use.
func WriteFields(w io.Writer, fields []Field) error {
	if fields == nil {
		fields = []Field{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		Fields []Field `json:"ticket_fields"`
	}{fields})
}

// ReadFields reads a field catalog written by WriteFields, a whole
// ticket_fields API reply (whose status must be 0), or a bare array of fields.
func ReadFields(r io.Reader) ([]Field, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading field catalog: %w", err)
	}
	b = bytes.TrimSpace(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))
	if len(b) > 0 && b[0] == '[' {
		var fields []Field
		if err := json.Unmarshal(b, &fields); err != nil {
			return nil, fmt.Errorf("field catalog: %w", err)
		}
		return fields, nil
	}
	var doc struct {
		envelope
		Fields *[]Field `json:"ticket_fields"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("field catalog: %w", err)
	}
	if doc.Status != StatusOK {
		return nil, fmt.Errorf("field catalog: %w", apiError(&doc.envelope, 0))
	}
	if doc.Fields == nil {
		return nil, errors.New(`field catalog: no "ticket_fields" member; want {"ticket_fields":[...]} or an array of fields`)
	}
	return *doc.Fields, nil
}

// PageHead is a listing reply decoded only as far as paging needs: its
// counts and, for each ticket, its id and creation time as the API wrote it.
type PageHead struct {
	Size       int
	Total      int
	TotalPages int
	IDs        []int64
	CreatedAt  []string
	// Raw is the reply body exactly as received.
	Raw json.RawMessage
}

type headFast struct {
	envelope
	Size       int `json:"size"`
	Total      int `json:"total"`
	TotalPages int `json:"total_pages"`
	Contents   []struct {
		ID        int64  `json:"id"`
		CreatedAt string `json:"created_at"`
	} `json:"contents"`
}

// Head is the page's head, as DecodePageHead reads it from the same body.
func (p *Page) Head() *PageHead {
	h := &PageHead{Size: p.Size, Total: p.Total, TotalPages: p.TotalPages, Raw: p.Raw,
		IDs: make([]int64, len(p.Tickets)), CreatedAt: make([]string, len(p.Tickets))}
	for i := range p.Tickets {
		h.IDs[i], h.CreatedAt[i] = p.Tickets[i].ID, p.Tickets[i].CreatedAt
	}
	return h
}

// decodePageHead reads a listing reply's head; a reply the fast path refuses
// (a string id, a null) is decoded in full, tolerantly, as decodePage does.
func decodePageHead(body []byte) (*PageHead, *envelope, error) {
	var fast headFast
	if unmarshalShared(body, &fast) == nil {
		h := &PageHead{Size: fast.Size, Total: fast.Total, TotalPages: fast.TotalPages, Raw: body,
			IDs: make([]int64, len(fast.Contents)), CreatedAt: make([]string, len(fast.Contents))}
		for i, t := range fast.Contents {
			h.IDs[i], h.CreatedAt[i] = t.ID, t.CreatedAt
		}
		return h, &fast.envelope, nil
	}
	p, env, err := decodePageStd(body)
	if err != nil {
		return nil, env, err
	}
	return p.Head(), env, nil
}

// DecodePageHead decodes a listing reply body's head (as Client.PageHead
// does); like DecodePage, a reply whose status is not 0 gives a *Error.
func DecodePageHead(body []byte) (*PageHead, error) { return decodeReply(body, decodePageHead) }
