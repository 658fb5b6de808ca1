package udesktest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The admin API lets another process (a demo script, a test driving
// `udesk-etl sim`) change the data as the Go hooks do. It lives under
// /_sim/, is signed exactly like the API, and skips the budget, latency and
// faults. See the package doc for the requests and replies.

const adminPrefix = "/_sim/"

// adminRoute maps an admin request to its endpoint key and path argument.
func adminRoute(method, path string) (ep, arg string) {
	rest := strings.TrimPrefix(strings.TrimSuffix(path, "/"), adminPrefix)
	kind, arg, _ := strings.Cut(rest, "/")
	switch {
	case kind == "mutate" && arg == "" && method == http.MethodPost:
		return "POST /_sim/mutate", ""
	case (kind == "tickets" || kind == "fields") && arg == "" && method == http.MethodPost:
		return "POST /_sim/" + kind, ""
	case (kind == "tickets" || kind == "fields") && arg != "" && !strings.Contains(arg, "/"):
		switch method {
		case http.MethodPatch, http.MethodPut, http.MethodPost:
			return "PATCH /_sim/" + kind + "/:id", arg
		case http.MethodDelete:
			return "DELETE /_sim/" + kind + "/:id", arg
		}
	}
	return method + " " + path, ""
}

// serveAdmin answers an admin request; it returns the HTTP status and body.
func (s *Server) serveAdmin(r *http.Request, body []byte) (int, []byte) {
	ep, arg := adminRoute(r.Method, r.URL.Path)
	if !s.signOK(r.URL.RawQuery) {
		return http.StatusForbidden, fail(codeSign, msgSign)
	}
	switch ep {
	case "POST /_sim/tickets":
		return s.adminCreate(body)
	case "PATCH /_sim/tickets/:id":
		return s.adminUpdate(arg, body)
	case "DELETE /_sim/tickets/:id":
		id, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || !s.DeleteTicket(id) {
			return http.StatusNotFound, fail(codeNoTicket, "未找到相应工单")
		}
		return 200, fail(0, msgOK)
	case "POST /_sim/fields":
		return s.adminAddField(body)
	case "PATCH /_sim/fields/:id":
		return s.adminEditField(arg, body)
	case "DELETE /_sim/fields/:id":
		if !s.RemoveField(arg) {
			return http.StatusNotFound, adminError(http.StatusNotFound, "no field "+arg)
		}
		return 200, fail(0, msgOK)
	case "POST /_sim/mutate":
		var m Mutation
		if err := json.Unmarshal(body, &m); err != nil {
			return http.StatusBadRequest, adminError(http.StatusBadRequest, "body: "+err.Error())
		}
		res := s.Mutate(m)
		return 200, newReply(0, msgOK).raw("updated", idsJSON(res.Updated)).
			raw("deleted", idsJSON(res.Deleted)).raw("created", idsJSON(res.Created)).bytes()
	}
	return http.StatusNotFound, newReply(404, "Not Found").bytes()
}

func idsJSON(ids []int64) []byte {
	b := []byte{'['}
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return append(b, ']')
}

// adminError is a refused admin request: status 1001 with the reason in
// "error", like the API's parameter errors, or 1003 for an unknown ticket.
func adminError(httpStatus int, text string) []byte {
	if httpStatus == http.StatusNotFound {
		return newReply(codeNoTicket, "未找到").str("error", text).bytes()
	}
	return paramError(text)
}

// ticketPatch reads a ticket in wire-read form over an existing one:
// members present replace, custom_fields are merged (null clears one).
type ticketPatch struct {
	Ticket
	CustomFields map[string]json.RawMessage `json:"custom_fields"`
}

// decode reads body over p and checks its values (s.mu held); it returns
// the custom fields to set and clear, or the reason to refuse. blank says
// whether status and priority may be left empty (a create fills them).
func (p *ticketPatch) decode(s *Server, body []byte, blank bool) (set map[string]string, clear []string, msg string) {
	if err := json.Unmarshal(body, p); err != nil {
		return nil, nil, "body: " + err.Error()
	}
	if indexOf(statusEN, p.Status) < 0 && !(blank && p.Status == "") {
		return nil, nil, "status " + strconv.Quote(p.Status) + " is not one of " + strings.Join(statusEN, ", ")
	}
	if indexOf(priorityZH, p.Priority) < 0 && !(blank && p.Priority == "") {
		return nil, nil, "priority " + strconv.Quote(p.Priority) + " is not one of " + strings.Join(priorityZH, ", ")
	}
	return checkFields(s.fields, p.CustomFields, false)
}

func (s *Server) adminCreate(body []byte) (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p ticketPatch
	set, _, msg := p.decode(s, body, true)
	if msg != "" {
		return http.StatusBadRequest, paramError(msg)
	}
	t := p.Ticket
	if p.CustomFields != nil {
		t.CustomFields = set
	}
	return 200, newReply(0, msgOK).int("ticket_id", s.createTicket(t)).bytes()
}

func (s *Server) adminUpdate(idText string, body []byte) (int, []byte) {
	id, err := strconv.ParseInt(idText, 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || !s.exists(id) {
		return http.StatusNotFound, fail(codeNoTicket, "未找到相应工单")
	}
	p := ticketPatch{Ticket: *s.ticket(id).clone()}
	set, clear, msg := p.decode(s, body, false)
	if msg != "" {
		return http.StatusBadRequest, paramError(msg)
	}
	s.change(id, func(t *Ticket) {
		*t = p.Ticket
		for k, v := range set {
			t.CustomFields[k] = v
		}
		for _, k := range clear {
			delete(t.CustomFields, k)
		}
	})
	return 200, newReply(0, msgOK).raw("contents", s.appendTicketID(nil, id)).bytes()
}

// fieldRequest is the body of POST /_sim/fields and PATCH /_sim/fields/NAME.
type fieldRequest struct {
	Name        string          `json:"field_name"`
	Label       string          `json:"field_label"`
	ContentType string          `json:"content_type"`
	Options     json.RawMessage `json:"options"` // add: ["label", ...]; edit: {"index": "label", ...}
}

func (s *Server) adminAddField(body []byte) (int, []byte) {
	var req fieldRequest
	var opts []string
	err := json.Unmarshal(body, &req)
	if err == nil && len(req.Options) > 0 {
		err = json.Unmarshal(req.Options, &opts)
	}
	if err != nil {
		return http.StatusBadRequest, paramError("body: " + err.Error())
	}
	name, err := s.AddField(Field{Name: req.Name, Label: req.Label, ContentType: req.ContentType, Options: opts})
	if err != nil {
		return http.StatusBadRequest, paramError(err.Error())
	}
	return 200, newReply(0, msgOK).str("field_name", name).bytes()
}

// adminEditField relabels a field and/or its options; nothing changes when
// any part is wrong.
func (s *Server) adminEditField(name string, body []byte) (int, []byte) {
	var req fieldRequest
	var opts map[string]string
	err := json.Unmarshal(body, &req)
	if err == nil && len(req.Options) > 0 {
		err = json.Unmarshal(req.Options, &opts)
	}
	if err != nil {
		return http.StatusBadRequest, paramError("body: " + err.Error())
	}
	msg := ""
	found := s.editField(name, func(f *field) bool {
		if req.Label != "" {
			f.label = req.Label
		}
		f.options = slices.Clone(f.options)
		for k, label := range opts {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(f.options) {
				msg = "field " + name + " has no option " + strconv.Quote(k)
				return false
			}
			f.options[i] = label
		}
		return true
	})
	switch {
	case msg != "":
		return http.StatusBadRequest, paramError(msg)
	case !found:
		return http.StatusNotFound, adminError(http.StatusNotFound, "no field "+name)
	}
	return 200, fail(0, msgOK)
}
