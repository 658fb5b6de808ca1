// Package listing is the one reader of a Udesk ticket listing: every job
// that reads the tickets of a listing (all of them, a filter's, a
// customer's) goes through it, with one guarantee: each ticket that
// existed for the whole read is handed on exactly once, or the read fails
// with an *IncompleteError naming what it could not account for.
//
// A Reader reads the listing in passes into a spool (pipeline.Spool), with
// an end check, re-reads when the listing changed, deduplication by id and,
// for every ticket's listing, lookups by id of the tickets no pass listed
// (Complete). It is used two ways:
//
//   - spooled and resumable: FetchSpooled (the sync job) or a Reader driven
//     by its job (the export, which renders the first pass live through a
//     Feed while it is still read): a rerun after a crash fetches only the
//     pages the spool does not hold;
//   - read once: Each hands the tickets to a callback (the upsert's key
//     index, a settle's lookup of a customer's tickets).
//
// Messages name what is read ("all tickets", "customer a@b.c"), never a
// command-line flag: the jobs above say what to do about them.
package listing
