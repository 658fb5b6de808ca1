package udesktest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Changes made behind a client's back, between or during its runs: the Go
// hooks below, and the admin API (admin.go) that exposes them to another
// process.

// Field is one custom field of the live catalog, as AddField takes it and
// Fields lists it.
type Field struct {
	Name        string   // field_name; "" in AddField => the next free TextField_N or SelectField_N
	Label       string   // field_label
	ContentType string   // content_type: text, area_text, date, time, datetime, link, number, numeric, droplist, radio, checkbox
	Options     []string // select fields: option labels by index
}

// Fields lists the live catalog in served order.
func (s *Server) Fields() []Field {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Field, len(s.fields))
	for i, f := range s.fields {
		out[i] = Field{Name: f.name, Label: f.label, ContentType: f.ctype, Options: slices.Clone(f.options)}
	}
	return out
}

// RelabelField changes a field's field_label; false when there is no such field.
func (s *Server) RelabelField(name, label string) bool {
	return s.editField(name, func(f *field) bool { f.label = label; return true })
}

// RelabelOption changes the label of option index of a select field; false
// when there is no such field or option.
func (s *Server) RelabelOption(name string, index int, label string) bool {
	return s.editField(name, func(f *field) bool {
		if index < 0 || index >= len(f.options) {
			return false
		}
		f.options = slices.Clone(f.options)
		f.options[index] = label
		return true
	})
}

func (s *Server) editField(name string, fn func(*field) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.fields, func(f field) bool { return f.name == name })
	if i < 0 {
		return false
	}
	fields := slices.Clone(s.fields)
	if !fn(&fields[i]) {
		return false
	}
	s.setFields(fields)
	return true
}

var selectTypes = []string{ctDroplist, ctRadio, ctCheckbox}

var plainTypes = []string{ctText, ctAreaText, ctDate, ctTime, ctDatetime, ctLink, ctNumber, ctNumeric}

// AddField appends a field to the catalog and returns its field_name.
// Existing tickets have no value for it (served as null) until updated.
func (s *Server) AddField(f Field) (string, error) {
	isSelect := slices.Contains(selectTypes, f.ContentType)
	switch {
	case strings.TrimSpace(f.Label) == "":
		return "", errors.New("field_label is missing")
	case !isSelect && !slices.Contains(plainTypes, f.ContentType):
		return "", fmt.Errorf("content_type %q is not one of %s", f.ContentType, strings.Join(append(slices.Clone(plainTypes), selectTypes...), ", "))
	case isSelect && len(f.Options) == 0:
		return "", errors.New("a " + f.ContentType + " field needs options")
	case !isSelect && len(f.Options) > 0:
		return "", errors.New("only droplist, radio and checkbox fields have options")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := f.Name
	if name == "" {
		prefix := "TextField_"
		if isSelect {
			prefix = "SelectField_"
		}
		for n := 1; name == ""; n++ {
			if fieldByName(s.fields, prefix+strconv.Itoa(n)) == nil {
				name = prefix + strconv.Itoa(n)
			}
		}
	} else if fieldByName(s.fields, name) != nil {
		return "", fmt.Errorf("field %s exists", name)
	}
	nf := field{name: name, label: f.Label, ctype: f.ContentType, options: slices.Clone(f.Options), permission: 2}
	s.setFields(append(slices.Clone(s.fields), nf))
	s.dropEncoded()
	return name, nil
}

// RemoveField takes a field out of the catalog: it is no longer served,
// listed or accepted. False when there is no such field.
func (s *Server) RemoveField(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.fields, func(f field) bool { return f.name == name })
	if i < 0 {
		return false
	}
	s.setFields(slices.Delete(slices.Clone(s.fields), i, i+1))
	s.dropEncoded()
	return true
}

// setFields replaces the live catalog (s.mu held).
func (s *Server) setFields(fields []field) {
	s.fields = fields
	s.fieldsJSON = fieldsReply(fields)
}

// dropEncoded empties the encoded-ticket cache, whose custom_fields follow
// the catalog (s.mu held).
func (s *Server) dropEncoded() {
	if s.enc != nil {
		s.enc = newEncCache(s.opts.Tickets, s.opts.CacheBytes)
	}
}

// CreateTicket adds a ticket server-side, as a customer writing in would,
// and returns its id (new tickets get the next, highest id). Empty
// fields are taken from the generated ticket of that id; the customer is
// found or created by UserEmail, then UserCellphone.
func (s *Server) CreateTicket(t Ticket) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createTicket(t)
}

func (s *Server) createTicket(t Ticket) int64 {
	g := s.gen.ticket(s.nextID)
	now := formatTime(time.Now().Unix())
	nt := t.clone()
	fill := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	fill(&nt.Subject, g.Subject)
	fill(&nt.Content, g.Content)
	fill(&nt.ContentType, g.ContentType)
	fill(&nt.Platform, g.Platform)
	fill(&nt.Status, statusEN[0])
	fill(&nt.Priority, g.Priority)
	fill(&nt.CreatedAt, now)
	fill(&nt.UpdatedAt, nt.CreatedAt)
	if nt.Status != statusEN[0] {
		fill(&nt.SolvingAt, nt.CreatedAt)
	}
	if t.CustomFields == nil {
		nt.CustomFields = g.CustomFields
	}
	if nt.UserEmail == "" && nt.UserCellphone == "" {
		nt.customer = g.customer
		nt.UserEmail, nt.UserCellphone = g.UserEmail, g.UserCellphone
	} else {
		nt.customer = s.findOrCreateCustomer("", nt.UserEmail, nt.UserCellphone)
	}
	fill(&nt.User, s.customers[nt.customer].Name)
	return s.add(nt)
}

// Mutation is a seeded batch of changes (Server.Mutate, POST /_sim/mutate).
type Mutation struct {
	Seed   int64 `json:"seed"`
	Update int   `json:"update"` // live tickets to update (status, priority, subject, assignee, custom fields)
	Delete int   `json:"delete"` // live tickets to delete (never one of those updated)
	Create int   `json:"create"` // generated tickets to create
}

// Mutated lists the ids a Mutation touched, in the order it touched them.
type Mutated struct {
	Updated []int64 `json:"updated"`
	Deleted []int64 `json:"deleted"`
	Created []int64 `json:"created"`
}

// Mutate applies m at once. The same seed on the same data picks the same
// tickets and values. When fewer tickets live than Update+Delete, it
// updates and deletes as many as there are.
func (s *Server) Mutate(m Mutation) Mutated {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := newRNG(m.Seed, int64(len(s.order)), streamMutate)
	// Distinct victims: a partial Fisher-Yates shuffle over list positions.
	n := min(max(m.Update, 0)+max(m.Delete, 0), len(s.order))
	pos := map[int]int{}
	at := func(i int) int {
		if v, ok := pos[i]; ok {
			return v
		}
		return i
	}
	picked := make([]int64, n)
	for i := range n {
		j := i + r.intn(len(s.order)-i)
		pi, pj := at(i), at(j)
		pos[i], pos[j] = pj, pi
		picked[i] = s.order[pj]
	}
	var out Mutated
	upd := min(max(m.Update, 0), n)
	for _, id := range picked[:upd] {
		s.change(id, func(t *Ticket) { s.randomEdit(t, &r) })
		out.Updated = append(out.Updated, id)
	}
	for _, id := range picked[upd:] {
		s.delete(id)
		out.Deleted = append(out.Deleted, id)
	}
	for range max(m.Create, 0) {
		out.Created = append(out.Created, s.createTicket(Ticket{}))
	}
	return out
}

// randomEdit changes a few fields of t, each with even odds, and always at
// least its status (s.mu held).
func (s *Server) randomEdit(t *Ticket, r *rng) {
	t.Status = statusEN[(indexOf(statusEN, t.Status)+1+r.intn(len(statusEN)-1))%len(statusEN)]
	if t.Status != statusEN[0] && t.SolvingAt == "" {
		t.SolvingAt = formatTime(time.Now().Unix())
	}
	if r.chance(0.5) {
		t.Priority = priorityZH[r.intn(len(priorityZH))]
	}
	if r.chance(0.5) {
		t.Subject += " (更新 " + strconv.Itoa(r.intn(1000)) + ")"
	}
	if r.chance(0.5) {
		a := agents[r.intn(len(agents))]
		g := s.groupByID[a.Groups[0]]
		t.Assignee, t.AssigneeID, t.UserGroupID, t.UserGroupName = a.Name, a.ID, g.ID, g.Name
	}
	for _, f := range s.fields {
		switch {
		case f.ctype == ctChained || !r.chance(0.3):
		case f.options != nil:
			t.CustomFields[f.name] = strconv.Itoa(r.intn(len(f.options)))
		case f.ctype == ctText || f.ctype == ctAreaText:
			t.CustomFields[f.name] = "已更新 " + strconv.Itoa(r.intn(1000))
		case f.ctype == ctNumber:
			t.CustomFields[f.name] = strconv.Itoa(r.intn(1000))
		default:
			delete(t.CustomFields, f.name)
		}
	}
}
