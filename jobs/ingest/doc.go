// Package ingest puts tickets into Udesk from files: the journaled import
// (Run), its dry run (Plan), and the same mapping written to a file without
// the API (Convert). It owns the read → map → send loop, the exactly-once
// sending of writes, the round trip of an edited export (only changed fields
// are sent), success.csv and errors.csv, and the table of errors.csv's codes
// (ErrorCodes).
//
// Run sends one write per input row, exactly once across crashes and
// re-runs. Its state folder (pipeline.StateDir beside the input's real path,
// kind "import-<op>", keyed by the tenant as pipeline.TenantKey spells it,
// the operation, the sheet and the contents of the input and the mapping
// file, so that the same import under another spelling of the URL or path is
// the same job) is locked for the whole run (pipeline.LockStateDir: a second
// run at once gets a *pipeline.LockedError) and holds:
//
//	lock           flock'ed while a run uses the folder
//	fields.json    the field catalog read at the start (a resumed run uses it)
//	journal.jsonl  append-only: a header (input hash, run id, results folder,
//	               marker field), then per row an intent, fsynced before the
//	               write is sent, and its outcome (ok with the ticket id, fail,
//	               unknown, void); "complete" once every row has an outcome
//	keyindex.json  an upsert's key index: the listed tickets that hold a key
//
// An upsert (Options.UpsertKey, kind "import-upsert") makes each row true in
// Udesk by a key field: see upsert.go. Options.Limit handles the first rows
// only and leaves the journal open, so that the same import without it goes
// on after them. An upsert, a round-trip edit and a plain update with
// Options.Rollback write rollback.csv to the results folder before the first
// update is sent (see rollback.go).
//
// A re-run of an unfinished import skips rows with an outcome and settles
// rows with only an intent (looks them up) before resending them; settling a
// create never takes a ticket an earlier row already owns. A re-run of a
// complete import writes nothing and says so (Report.AlreadyImported, with
// the counts of the run that finished it); Options.Fresh starts over, once
// the lock is held. An input that changed since an import of it began (a
// journal beside it of the same tenant, operation and sheet, with another
// hash) is refused (*InputChangedError) unless Fresh. success.csv and errors.csv are rendered
// from the journal and the input at the end of every run, before the
// journal's complete marker, so that a crash between the two renders them
// again.
//
// Messages may name the command line's flags (see package pipeline).
package ingest
