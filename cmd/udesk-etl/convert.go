package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// convertOptions are the flags of `udesk-etl convert`.
type convertOptions struct {
	conn connOptions
	op   mapping.OpKind
	inputOptions
	output     string
	errorsFile string
	fields     string
	report     string
}

func runConvertCommand(ctx context.Context, a *app, args []string) error {
	var o convertOptions
	fs := newFlagSet(a, "convert", "-i FILE -o FILE [--create|--update|--reply] [--mapping FILE] [--fields FILE]")
	op := opFlags(fs, mapping.Create)
	o.inputOptions.register(fs)
	fs.StringVar(&o.output, "o", "", "the output `FILE` (.csv, .jsonl, .xlsx or .parquet; - for JSON lines on stdout)")
	fs.StringVar(&o.errorsFile, "errors", "", "write the rejected rows to `FILE` (default: <output>.errors.csv beside the output)")
	fs.StringVar(&o.fields, "fields", "", "the field catalog `FILE` written by `udesk-etl fields -o` (default: read from the tenant)")
	fs.StringVar(&o.report, "report", "", "write the summary as JSON to `FILE`")
	o.conn.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if o.op, err = op(); err != nil {
		return err
	}
	if o.input == "" || o.output == "" {
		return usagef("convert needs -i FILE and -o FILE")
	}
	return runConvert(ctx, a, &o)
}

func runConvert(ctx context.Context, a *app, o *convertOptions) error {
	start := time.Now()
	in, mf, err := openMappedInput(o.input, o.sheet, o.encoding, o.mappingFile)
	if err != nil {
		return err
	}
	defer in.Close()
	var cat *mapping.Catalog
	var client *udesk.Client
	if o.fields != "" {
		if cat, err = mapping.LoadCatalog(o.fields); err != nil {
			return usageError{fmt.Errorf("--fields: %w", err)}
		}
	} else {
		if client, err = o.conn.client(a); err != nil {
			return usageError{fmt.Errorf("%w (or pass --fields FILE, written by `udesk-etl fields -o FILE`)", err)}
		}
		fields, err := fetchFields(ctx, client)
		if err != nil {
			return err
		}
		cat = mapping.NewCatalog(fields)
	}
	im, err := newImporter(cat, o.input, in.header, o.op, o.selectValues, mf)
	if err != nil {
		return err
	}
	schema := canonicalSchema(o.op, cat)
	w, err := sinks.NewWriter(o.output, schema, sinks.Options{})
	if err != nil {
		return usageError{err}
	}
	ir := &importRun{prog: newProgress(a, o.conn.quiet, "convert", "rows", 0)}
	s := &summary{Command: "convert --" + o.op.String()}
	const batch = 512
	rows := make([]pipeline.Row, 0, batch)
	err = mapping.Convert(ctx, in, im, func(op mapping.Operation) error {
		s.Read++
		ir.prog.Add(1)
		rows = append(rows, canonicalRow(schema, op))
		if len(rows) == batch {
			err := w.WriteRows(rows)
			rows = rows[:0]
			return err
		}
		return nil
	}, func(rec pipeline.Record, err error) {
		s.Read++
		code := codeInvalid
		if _, ok := err.(*pipeline.RowError); ok {
			code = codeUnreadableRow
		}
		ir.fail(rec.Pos.Row, rec.Cells, code, rowErrorMessage(rec.Pos, err))
	})
	if err == nil && len(rows) > 0 {
		err = w.WriteRows(rows)
	}
	ir.prog.Finish()
	if err != nil {
		_ = w.Abort()
		return err
	}
	if err := w.Commit(); err != nil {
		return err
	}
	epath := o.errorsFile
	if epath == "" {
		base := o.output
		if base == "-" {
			base = o.input
		}
		epath = strings.TrimSuffix(base, filepath.Ext(base)) + ".errors.csv"
	}
	if err := writeErrorsCSV(epath, in.header, ir.failures); err != nil {
		return err
	}
	s.Failed = int64(len(ir.failures))
	s.Written = s.Read - s.Failed
	if o.output != "-" {
		s.Outputs = append(s.Outputs, o.output)
	}
	s.Outputs = append(s.Outputs, epath)
	return s.end(a, client, start, o.report)
}

// Canonical import columns of each operation (CLI.md), before and after the
// custom fields; custom fields are named by field_name.
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
