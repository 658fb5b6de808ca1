package udesk

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestErrorString(t *testing.T) {
	for _, tc := range []struct {
		e    *Error
		want string
	}{
		{&Error{HTTPStatus: 200, Code: StatusInvalidParameter, Message: "参数错误", ErrorText: "per_page should be between 1 and 100",
			Method: "GET", Path: "/api/v1/tickets.json", Class: Permanent, Attempts: 1},
			`udesk: GET /api/v1/tickets.json: the API refused a parameter as missing, out of range or naming an agent, ` +
				`agent group or filter it does not know: check the value the message names (Udesk status 1001: 参数错误): ` +
				`error "per_page should be between 1 and 100"`},
		{&Error{HTTPStatus: 200, Code: StatusBadSignature, Message: "签名错,请升级版本后使用!", Method: "GET", Path: "/api/v1/tickets/7.json", Class: Permanent},
			"udesk: GET /api/v1/tickets/7.json: the API rejected the request's signature: check UDESK_SECRET (or --secret-file) " +
				"for this tenant (Udesk status 2002: 签名错,请升级版本后使用!)"},
		{&Error{Method: "POST", Path: "/api/v1/tickets.json", Class: OutcomeUnknown, Attempts: 1, Err: io.ErrUnexpectedEOF},
			"udesk: POST /api/v1/tickets.json: outcome unknown (not resent): unexpected EOF"},
		{&Error{HTTPStatus: 503, Message: "Service\r\nUnavailable", Method: "GET", Path: "/p", Class: Transient, Attempts: 6},
			"udesk: GET /p: Service Unavailable: HTTP 503 (gave up after 6 attempts)"},
		{&Error{HTTPStatus: 500, Code: 1, Message: "echo ?a=1&sign=abc123: x", Class: Permanent},
			"udesk: status 1 echo ?a=1&sign=REDACTED: x: HTTP 500"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q\n        want %q", got, tc.want)
		}
	}
	wrapped := fmt.Errorf("row 3: %w", &Error{Class: OutcomeUnknown, Err: io.EOF})
	var e *Error
	if !errors.As(wrapped, &e) || !IsOutcomeUnknown(wrapped) || IsTransient(wrapped) || !errors.Is(wrapped, io.EOF) {
		t.Error("a wrapped *Error is not found by errors.As / IsOutcomeUnknown / errors.Is")
	}
	if IsTransient(io.EOF) || IsOutcomeUnknown(nil) {
		t.Error("a non-udesk error classed")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    string
		want time.Duration
	}{
		{"", 0}, {"3", 3 * time.Second}, {" 120 ", 2 * time.Minute}, {"-1", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.h, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.h, got, tc.want)
		}
	}
}
