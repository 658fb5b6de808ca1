package ingest

import (
	"context"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
)

// ConvertOptions configure Convert.
type ConvertOptions struct {
	Op      mapping.OpKind
	Catalog *mapping.Catalog // the tenant's fields (FetchCatalog, or mapping.LoadCatalog of a saved one)
	// Output is the file written (.csv, .jsonl, .xlsx or .parquet; "-" for
	// JSON lines on Stdout).
	Output string
	Stdout io.Writer
	// ErrorsFile receives the rejected rows, written only when rows were
	// rejected; "" is <output>.errors.csv beside the output (beside the
	// input when the output is "-").
	ErrorsFile string
	Observer   pipeline.Observer // progress (default pipeline.Quiet)
}

// Convert maps every row of input as an import would and writes the
// operations to a file in the operation's canonical columns, values exactly
// as the API would receive them; it sends nothing. Rejected rows go to the
// errors file and are counted in the report's Failed.
func Convert(ctx context.Context, input Input, o ConvertOptions) (*pipeline.Report, error) {
	f, mf, err := openInput(input)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	im, err := newImporter(o.Catalog, f, o.Op, input, mf)
	if err != nil {
		return nil, err
	}
	schema := canonicalSchema(o.Op, o.Catalog)
	w, err := sinks.NewWriter(o.Output, schema, sinks.Options{Stdout: o.Stdout})
	if err != nil {
		return nil, &pipeline.ConfigError{Err: err}
	}
	obs := o.Observer
	if obs == nil {
		obs = pipeline.Quiet{}
	}
	prog := obs.Phase("convert", "rows", 0)
	t := newTally(prog)
	rep := &pipeline.Report{}
	f.noteReader(rep)
	const batch = 512
	rows := make([]pipeline.Row, 0, batch)
	rep.Read, err = mapRows(ctx, f, importerOps{im}, t, rowSteps{emit: func(_ pipeline.Record, op mapping.Operation) error {
		prog.Add(1)
		rows = append(rows, canonicalRow(schema, op))
		if len(rows) == batch {
			err := w.WriteRows(rows)
			rows = rows[:0]
			return err
		}
		return nil
	}})
	if err == nil && len(rows) > 0 {
		err = w.WriteRows(rows)
	}
	prog.Finish()
	if err != nil {
		_ = w.Abort()
		return nil, err
	}
	if err := w.Commit(); err != nil {
		return nil, err
	}
	epath := o.ErrorsFile
	if epath == "" {
		base := o.Output
		if base == "-" {
			base = input.Path
		}
		epath = strings.TrimSuffix(base, filepath.Ext(base)) + ".errors.csv"
	}
	rep.Failed = t.failed()
	rep.Written = rep.Read - rep.Failed
	if o.Output != "-" {
		rep.Outputs = append(rep.Outputs, o.Output)
	}
	// An errors file only when rows were rejected: an empty one would
	// read as a failure. It is the last output.
	if rep.Failed > 0 {
		if err := t.writeErrorsCSV(epath, f.header); err != nil {
			return nil, err
		}
		rep.Outputs = append(rep.Outputs, epath)
	}
	return rep, nil
}

// Canonical import columns of each operation, before and after the custom
// fields; custom fields are named by field_name.
var canonicalColumns = map[mapping.OpKind][2][]string{
	mapping.Create: {{"subject", "content", "email", "cellphone", "customer_token", "status", "priority",
		"assignee_name", "assignee_email", "agent_group_name"}, nil},
	mapping.Update: {{"id", "subject", "content", "status", "priority", "agent_email", "agent_id", "agent_group_name",
		"agent_group_id", "tags", "follower_emails", "follower_ids"}, {"comment_function", "comment_author_email", "comment_body"}},
	mapping.Reply: {{"id", "reply_content", "email"}, nil},
}

// canonicalSchema is convert's output: the operation's columns holding the
// values exactly as the API would receive them (create: Chinese status and
// priority, select indexes; update: English names, select labels).
func canonicalSchema(op mapping.OpKind, cat *mapping.Catalog) pipeline.Schema {
	cols := canonicalColumns[op]
	var s pipeline.Schema
	add := func(name string) {
		s.Columns = append(s.Columns, pipeline.Column{Name: name, Field: name, Kind: pipeline.String})
	}
	for _, c := range cols[0] {
		add(c)
	}
	if op != mapping.Reply {
		for _, f := range cat.Fields() {
			add(f.Name)
		}
	}
	for _, c := range cols[1] {
		add(c)
	}
	return s
}

// canonicalRow lays an operation out in the schema's columns.
func canonicalRow(schema pipeline.Schema, op mapping.Operation) pipeline.Row {
	v := map[string]string{}
	id := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	switch {
	case op.Create != nil:
		t := op.Create
		v["subject"], v["content"], v["email"], v["cellphone"] = t.Subject, t.Content, t.Email, t.Cellphone
		v["customer_token"], v["status"], v["priority"], v["agent_group_name"] = t.CustomerToken, t.Status, t.Priority, t.AgentGroupName
		if t.Assignee != nil {
			v["assignee_name"], v["assignee_email"] = t.Assignee.Name, t.Assignee.Email
		}
		for k, x := range t.TicketField {
			v[k] = x
		}
	case op.Update != nil:
		u := op.Update
		v["id"], v["subject"], v["content"], v["status"], v["priority"] = id(op.ID), u.Subject, u.Content, u.Status, u.Priority
		v["agent_email"], v["agent_id"], v["agent_group_name"], v["agent_group_id"] = u.AgentEmail, id(u.AgentID), u.AgentGroupName, id(u.AgentGroupID)
		v["tags"], v["follower_emails"], v["follower_ids"] = u.Tags, u.FollowerEmails, u.FollowerIDs
		for k, x := range u.CustomFields {
			v[k] = x
		}
		if c := u.Comment; c != nil {
			v["comment_function"], v["comment_author_email"], v["comment_body"] = c.Function, c.AuthorEmail, c.Body
		}
	case op.Reply != nil:
		r := op.Reply
		v["id"], v["reply_content"], v["email"] = id(r.ID), r.ReplyContent, r.Email
	}
	row := pipeline.Row{Values: make([]any, len(schema.Columns))}
	for i, c := range schema.Columns {
		if x := v[c.Field]; x != "" {
			row.Values[i] = x
		}
	}
	return row
}
