package ingest

import (
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/sources"
)

// Error codes of errors.csv's error_code column that this package gives.
// The round trip's codes are mapping's (mapping.CodeConflict...); every code
// is listed with its meaning in ErrorCodes.
const (
	CodeInvalid        = "invalid"               // a value the mapping rejects
	CodeUnreadableRow  = "unreadable_row"        // a row the reader could not parse
	CodeRaggedRow      = sources.CodeRaggedRow   // a row whose cell count differs from the header's
	CodeOutcomeUnknown = "outcome_unknown"       // sent, but whether it took effect cannot be told; not resent
	CodeAPIError       = "api_error"             // refused by Udesk without a code or status
	CodeConflictCheck  = "conflict_check_failed" // the ticket could not be read to check it for conflicts
	CodeDuplicateKey   = "duplicate_key"         // upsert: several tickets hold the row's key
)

// ErrorCode is one code errors.csv may hold and what it means.
type ErrorCode struct {
	Code    string // the code; api_<code> and http_<status> stand for a family
	Meaning string
}

// ErrorCodes is every code of errors.csv's error_code column, the table the
// README shows.
var ErrorCodes = []ErrorCode{
	{CodeInvalid, "a cell the mapping rejects (unknown value, wrong type, missing required column); error_message names the column"},
	{CodeUnreadableRow, "the reader could not parse the row (bad quoting, bad encoding, a damaged sheet row)"},
	{CodeRaggedRow, "the row has more or fewer cells than the header has columns (a CSV row cut short or with extra cells); error_message gives both counts"},
	{CodeOutcomeUnknown, "sent, but Udesk's reply never came and whether it took effect cannot be told (a reply, a commented update, a create that cannot be looked up); not resent: check the ticket, or re-run with --resend-unknown"},
	{"api_<code>", "Udesk refused the write with this code, e.g. api_1003 (ticket not found); error_message has Udesk's message"},
	{"http_<status>", "Udesk refused the write with this HTTP status and no code"},
	{CodeAPIError, "Udesk refused the write without a code or status"},
	{mapping.CodeReadOnly, "round trip: a column the update cannot change was edited"},
	{mapping.CodeCleared, "round trip: a cell was emptied; the API cannot clear a field"},
	{mapping.CodeAddedRow, "round trip: a row that was not exported (no id, or an id the export did not hold)"},
	{mapping.CodeDuplicate, "round trip: a second row with the same id; upsert: a second row with the same key"},
	{CodeDuplicateKey, "upsert: several tickets hold the row's key, so which one to update cannot be told; nothing was sent"},
	{mapping.CodeConflict, "round trip (--check-conflicts): the ticket changed in Udesk since the export; nothing was sent"},
	{CodeConflictCheck, "round trip (--check-conflicts): the ticket could not be read to check it; nothing was sent"},
}
