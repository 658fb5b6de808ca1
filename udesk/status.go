package udesk

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Status codes of a reply's "status", from the error table of the API's
// spec. One code covers several failures (the reply's message says which).
const (
	StatusOK = 0
	// StatusInvalidParameter: a parameter is missing or out of range, or names
	// an agent, agent group or filter that does not exist.
	StatusInvalidParameter = 1001
	// StatusCustomerNotFound: no customer has the email of a customer listing.
	StatusCustomerNotFound = 1002
	// StatusTicketNotFound: no ticket has the id.
	StatusTicketNotFound = 1003
	// StatusReplyCustomerNotFound: no customer has the email of a customer reply.
	StatusReplyCustomerNotFound = 1004
	// StatusInvalidStatus: the ticket status is not one the API accepts.
	StatusInvalidStatus = 1006
	// StatusAgentEmailNotFound: no agent has the agent_email.
	StatusAgentEmailNotFound = 1008
	// StatusAgentNotInGroup: the agent is not a member of the agent group.
	StatusAgentNotInGroup = 1010
	// StatusInvalidComment: a comment's function is neither internal nor
	// external, or its author_email is no agent's.
	StatusInvalidComment = 1013
	// StatusBadSignature: the sign did not match; the secret is wrong.
	StatusBadSignature = 2002
)

// TimestampLayout is the form of the API's timestamps (created_at,
// updated_at), always written in APIZone: "2016-07-28 20:44:08 +0800".
const TimestampLayout = "2006-01-02 15:04:05 -0700"

// APIZone is the zone the API writes its timestamps in (+0800, China
// Standard Time, no daylight saving).
var APIZone = time.FixedZone("+0800", 8*3600)

// explanations say in plain English what a status code means and what to do
// about it; the server's own message follows in Error.
var explanations = map[int]string{
	StatusInvalidParameter: "the API refused a parameter as missing, out of range or naming an agent, " +
		"agent group or filter it does not know: check the value the message names",
	StatusCustomerNotFound: "no customer of this tenant has that email: check the customer email",
	StatusTicketNotFound:   "no ticket of this tenant has that id: check the ticket id (deleted, or from another tenant?)",
	StatusReplyCustomerNotFound: "no customer of this tenant has the reply's email: " +
		"check the email (the reply must come from an existing customer)",
	StatusInvalidStatus: "the API does not accept this ticket status: check the status value",
	StatusAgentEmailNotFound: "no agent of this tenant has that agent email: " +
		"check the agent email (it must be an agent's, not a customer's)",
	StatusAgentNotInGroup: "the agent is not a member of the given agent group: check the agent and the group together",
	StatusInvalidComment: "the API refused the comment: its function must be internal or external " +
		"and its author email an agent's of this tenant",
	StatusBadSignature: "the API rejected the request's signature: check UDESK_SECRET (or --secret-file) for this tenant",
}

// IsAuthError reports whether err is a *Error saying the credentials are
// wrong (a bad signature, or HTTP 401): a configuration error, which no retry
// or other input can fix.
func IsAuthError(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == StatusBadSignature || e.HTTPStatus == http.StatusUnauthorized)
}

// RetryAfterTooLongError is the Err of a *Error whose reply asked to wait
// (Retry-After) longer than the call could still retry (Config.MaxRetryTime).
// The call gave up at once and did not hold the client's other calls.
type RetryAfterTooLongError struct {
	Wait  time.Duration // what the server asked for
	Limit time.Duration // the call's retry limit (Config.MaxRetryTime)
	Left  time.Duration // what was left of Limit when the reply came
}

func (e *RetryAfterTooLongError) Error() string {
	if e.Wait > e.Limit {
		return fmt.Sprintf("the server asked to wait %s before retrying, longer than the retry limit (%s)",
			shortDuration(e.Wait), shortDuration(e.Limit))
	}
	return fmt.Sprintf("the server asked to wait %s before retrying, longer than the %s left of the retry limit (%s)",
		shortDuration(e.Wait), shortDuration(e.Left), shortDuration(e.Limit))
}

// shortDuration writes d to the second (to the millisecond below one), without
// trailing zero units: 23h59m, 5m, 1.5s.
func shortDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
