package udesk

import "encoding/json"

// Ticket is one ticket in wire form, as the read endpoints return it:
// status as an English name, priority as a Chinese name, select custom fields
// as option index strings ("0", "0,3"). JSON nulls decode to zero values.
// This is the one declaration of the shape: the decoder's fast and tolerant
// forms are made from it (decode.go), so a field is added here only, as a
// string, an int64 or CustomFields.
type Ticket struct {
	ID            int64        `json:"id"`
	Subject       string       `json:"subject"`
	Content       string       `json:"content"`
	ContentType   string       `json:"content_type"`
	Platform      string       `json:"platform"`
	Priority      string       `json:"priority"`
	Status        string       `json:"status"`
	User          string       `json:"user"`
	UserEmail     string       `json:"user_email"`
	UserCellphone string       `json:"user_cellphone"`
	Assignee      string       `json:"assignee"`
	AssigneeID    int64        `json:"assignee_id"`
	UserGroupID   int64        `json:"user_group_id"`
	UserGroupName string       `json:"user_group_name"`
	SolvingAt     string       `json:"solving_at"`
	RepliedBy     string       `json:"replied_by"`
	CustomFields  CustomFields `json:"custom_fields"`
	CreatedAt     string       `json:"created_at"`
	UpdatedAt     string       `json:"updated_at"`
}

// CustomFields maps a field_name (TextField_1, SelectField_3) to its value in
// wire form. A Ticket's decoding is tolerant: numbers and booleans become
// their JSON text, null becomes "".
type CustomFields map[string]string

// Page is one page of a ticket listing (all tickets, a customer's, a filter's).
type Page struct {
	Size       int      `json:"size"`
	Total      int      `json:"total"`
	TotalPages int      `json:"total_pages"`
	Tickets    []Ticket `json:"contents"`
	// Raw is the reply body exactly as received, so that an export can spool it.
	Raw json.RawMessage `json:"-"`
}

// PageSize is the largest page a listing request may ask for (per_page
// 1..100): every reader of a whole listing asks for it.
const PageSize = 100

// ListingRequests is how many requests reading a listing of n tickets takes
// when it does not change while it is read: ⌈n/PageSize⌉ pages (one for an
// empty listing), page 1 read again at the end when there are several (the
// check that the listing held still), and the field catalog.
func ListingRequests(n int) int {
	pages := max(1, (n+PageSize-1)/PageSize)
	if pages > 1 {
		return pages + 2
	}
	return pages + 1
}

// Listing names which ticket listing a Page request reads.
type Listing struct {
	// Exactly one of these selects the listing; all zero means every ticket.
	CustomerEmail string // POST /api/v1/tickets/get.json
	FilterID      int64  // GET /api/v1/ticket_filters/:id/tickets.json
	AgentID       int64  // with FilterID: the agent whose view of the filter is read (0: omitted)
}

// Field is one custom field of the ticket field catalog.
type Field struct {
	Name        string `json:"field_name"`
	Label       string `json:"field_label"`
	ContentType string `json:"content_type"`
	Comment     string `json:"comment"`
	// Options of a select field (droplist, radio, checkbox) in catalog order.
	// Nil for other fields, and for chained fields whose options did not decode
	// (the spec documents them as malformed); RawOptions then keeps them verbatim.
	Options    []Option        `json:"-"`
	RawOptions json.RawMessage `json:"-"`
	Permission int             `json:"permission"`
	Required   bool            `json:"requirment"` // sic: the API's spelling
}

// Option is one choice of a select field: its index (as the API writes it,
// "0", "1", ...) and its label.
type Option struct {
	Index string
	Label string
}

// Content types of custom fields, as the catalog names them.
const (
	TypeText     = "text"
	TypeAreaText = "area_text"
	TypeDate     = "date"
	TypeTime     = "time"
	TypeDatetime = "datetime"
	TypeLink     = "link"
	TypeNumber   = "number"
	TypeNumeric  = "numeric"
	TypeDroplist = "droplist"
	TypeCheckbox = "checkbox"
	TypeRadio    = "radio"
	TypeChained  = "chained_droplist"
)

// Filter is one ticket filter (a saved view).
type Filter struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Active      bool   `json:"active"`
	Permission  string `json:"permission"`
	TicketsURL  string `json:"tickets_url"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
}

// NewTicket is the body of a create (POST /api/v1/tickets.json): status and
// priority as Chinese names, select custom fields as option indexes.
type NewTicket struct {
	Subject        string            `json:"subject"`
	Content        string            `json:"content"`
	Email          string            `json:"email,omitempty"`
	Cellphone      string            `json:"cellphone,omitempty"`
	CustomerToken  string            `json:"customer_token,omitempty"`
	Status         string            `json:"status,omitempty"`
	Priority       string            `json:"priority,omitempty"`
	Assignee       *Assignee         `json:"assignee,omitempty"`
	AgentGroupName string            `json:"agent_group_name,omitempty"`
	TicketField    map[string]string `json:"ticket_field,omitempty"`
}

// Assignee names the agent a created ticket is assigned to, by name, email or both.
type Assignee struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// TicketUpdate is the body of an update (PUT /api/v1/tickets/:id.json): status
// and priority as English names, select custom fields as option labels. Empty
// members are not sent. With a Comment the update is not idempotent.
type TicketUpdate struct {
	Subject        string            `json:"subject,omitempty"`
	Content        string            `json:"content,omitempty"`
	Status         string            `json:"status,omitempty"`
	Priority       string            `json:"priority,omitempty"`
	AgentEmail     string            `json:"agent_email,omitempty"`
	AgentID        int64             `json:"agent_id,omitempty"`
	AgentGroupName string            `json:"agent_group_name,omitempty"`
	AgentGroupID   int64             `json:"agent_group_id,omitempty"`
	Tags           string            `json:"tags,omitempty"`
	FollowerEmails string            `json:"follower_emails,omitempty"`
	FollowerIDs    string            `json:"follower_ids,omitempty"`
	CustomFields   map[string]string `json:"custom_fields,omitempty"`
	Comment        *Comment          `json:"comment,omitempty"`
}

// Comment is a reply added by an update: function is "internal" or "external".
type Comment struct {
	Function    string `json:"function"`
	AuthorEmail string `json:"author_email"`
	Body        string `json:"body"`
}

// Reply is the body of a customer reply (POST /api/v1/tickets/reply.json).
type Reply struct {
	ID           int64  `json:"id"`
	ReplyContent string `json:"reply_content"`
	Email        string `json:"email"`
}
