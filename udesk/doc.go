// Package udesk is a client of Udesk's ticket API (the /api/v1 and /api/v2
// paths of its first API family), shared by the export and import jobs. It
// knows nothing of pipelines or files.
//
// Every call goes through one path: wait for a slot (Config.Concurrency) and
// for the shared rate budget (Config.Rate), sign, send, and turn the reply
// into a result or a *Error. Query parameters are sent sorted by key and the
// exact string sent is the string signed (see UDESK-API-NOTES.md); every
// attempt is signed afresh. Paths are sent with ".json".
//
// Errors carry a class. Transient failures (HTTP 429 and 5xx, timeouts,
// connection errors, a reply that is not JSON) are retried with exponential
// backoff and full jitter, at most Config.MaxAttempts times and for at most
// Config.MaxRetryTime, waiting at least what a Retry-After asks (which also
// holds every other call of the client, since the budget is shared). A call
// asked to wait longer than it may still retry gives up at once, with a
// RetryAfterTooLongError, and holds no other call.
// Permanent failures (API status != 0, other 4xx) are returned at once.
// A non-idempotent request (create, reply, update with a comment) is resent
// only when it provably never reached the server: no connection was made, or
// the server answered 429, which means it refused the request before
// processing it. Any other failure after sending is OutcomeUnknown, never
// retried: the caller must find out whether it took effect.
//
// One caveat: Go's transport itself resends a GET once, without telling the
// client, when a reused keep-alive connection fails before any reply byte;
// such a resend is not counted in Stats and not paced by the budget.
//
// The secret never appears in an error, a debug line or any fmt output of
// the signer or the client, and neither does a sign value, in any encoding a
// server may echo it in: URLs are shown with sign=REDACTED, and the sign
// values a call sent are scrubbed from its error. Redirects are reported, not
// followed. An API error explains its status code in plain English before
// the server's own message; IsAuthError tells a wrong secret.
package udesk
