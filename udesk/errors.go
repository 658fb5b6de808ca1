package udesk

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrorClass says what a caller may do about a failed call.
type ErrorClass int

const (
	// Transient: the request did not succeed but may if tried again later
	// (throttling, 5xx, timeouts, connection errors, a garbled reply). The
	// client has already retried it as far as its budget allowed.
	Transient ErrorClass = iota + 1
	// Permanent: the API refused the request (status != 0, a 4xx other than
	// 429); sending it again would fail the same way.
	Permanent
	// OutcomeUnknown: a non-idempotent request (create, reply, update with a
	// comment) failed after it may have reached the server. It was not resent;
	// the caller must find out whether it took effect.
	OutcomeUnknown
)

func (c ErrorClass) String() string {
	switch c {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case OutcomeUnknown:
		return "outcome unknown"
	}
	return fmt.Sprintf("ErrorClass(%d)", int(c))
}

// Error is every failure of a Client call: an HTTP or API error reply, a
// transport error, or a reply that did not decode. It never holds the secret
// or a sign value: Path has no query.
type Error struct {
	HTTPStatus int    // 0 when no reply was received
	Code       int    // the reply's status (0 when none)
	Message    string // the reply's message
	ErrorText  string // the reply's error (e.g. "per_page should be between 1 and 100")
	Method     string
	Path       string // e.g. /api/v1/tickets.json, without query
	Class      ErrorClass
	Attempts   int   // attempts made for this call
	Err        error // underlying transport or decoding error, if any

	// redact scrubs the sign values of the call from the text shown (nil:
	// only sign parameters are scrubbed).
	redact *redactor
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("udesk: ")
	if e.Method != "" || e.Path != "" {
		fmt.Fprintf(&b, "%s %s: ", e.Method, e.Path)
	}
	if e.Class == OutcomeUnknown {
		b.WriteString("outcome unknown (not resent): ")
	}
	parts := 0
	sep := func() {
		if parts > 0 {
			b.WriteString(": ")
		}
		parts++
	}
	if why, known := explanations[e.Code]; known {
		sep()
		fmt.Fprintf(&b, "%s (Udesk status %d", why, e.Code)
		if e.Message != "" {
			fmt.Fprintf(&b, ": %s", oneLine(e.Message))
		}
		b.WriteString(")")
	} else if e.Code != StatusOK {
		sep()
		fmt.Fprintf(&b, "status %d", e.Code)
		if e.Message != "" {
			fmt.Fprintf(&b, " %s", oneLine(e.Message))
		}
	} else if e.Message != "" && e.HTTPStatus/100 != 2 {
		sep()
		b.WriteString(oneLine(e.Message))
	}
	if e.ErrorText != "" {
		sep()
		fmt.Fprintf(&b, "error %q", oneLine(e.ErrorText))
	}
	if e.HTTPStatus != 0 && (e.HTTPStatus/100 != 2 || parts == 0) {
		sep()
		fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
	}
	if e.Err != nil {
		sep()
		b.WriteString(oneLine(e.Err.Error()))
	}
	if e.Class == Transient && e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	}
	return e.redact.scrub(b.String())
}

func (e *Error) Unwrap() error { return e.Err }

// GoString keeps %#v to the same safe fields as Error, so that a wrapped
// error's internals are never dumped.
func (e *Error) GoString() string {
	err := ""
	if e.Err != nil {
		err = e.Err.Error()
	}
	return e.redact.scrub(fmt.Sprintf("&udesk.Error{HTTPStatus:%d, Code:%d, Message:%q, ErrorText:%q, Method:%q, Path:%q, Class:%s, Attempts:%d, Err:%q}",
		e.HTTPStatus, e.Code, e.Message, e.ErrorText, e.Method, e.Path, e.Class, e.Attempts, err))
}

// IsTransient reports whether err is a *Error of class Transient.
func IsTransient(err error) bool { return classOf(err) == Transient }

// IsOutcomeUnknown reports whether err is a *Error of class OutcomeUnknown:
// the request may or may not have taken effect.
func IsOutcomeUnknown(err error) bool { return classOf(err) == OutcomeUnknown }

func classOf(err error) ErrorClass {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return 0
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 300
	if len(s) > max {
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}
