// Package mapping holds every translation between files, users and the Udesk
// API, as pure functions: the field catalog (field_name <-> field_label),
// select options (index <-> label), value names (Chinese <-> English), typed
// custom field values, import column mapping and export rows. It imports
// nothing of ours but the wire types (udesk) and the contracts (pipeline).
//
// # Export
//
// An Exporter turns tickets in wire form into typed rows (see
// pipeline.Row): status as read (English), priority as read (Chinese),
// select fields as labels (checkbox: a list of labels), date fields as
// midnight UTC, datetime fields and created_at/updated_at/solving_at as
// times in APIZone (+0800), time fields as "15:04:05", number as int64,
// numeric as float64. A value that does not fit (a number field holding
// "abc", an unknown option index) is kept verbatim in Row.Raw.
//
// # Import
//
// An Importer turns one row of a file into one API operation. Columns are
// matched by name ignoring case and white space; a custom field is named by
// its field_name or field_label. Cells are read as the user wrote them and
// written as each endpoint needs:
//
//	status, priority   Chinese or English name  -> Chinese (create), English (update)
//	droplist, radio    option label or index    -> index (create), label (update)
//	checkbox           labels or indexes, "," or "，" between them -> "0,3" (create),
//	                   "多选框选项1,多选框选项4" (update), in option order
//	chained_droplist   passed through unchanged
//	date               2016-08-11, 2016/8/11, 2016.8.11, 2016年8月11日, 20160811,
//	                   a midnight time may follow, or an Excel serial (42593) -> "2016-08-11"
//	time               14:44:36, 14:44, 9:05, or an Excel fraction (0.614) -> "14:44:36"
//	datetime           a date as above with a time to the minute (seconds, if
//	                   written, must be zero), optionally with an offset
//	                   (+0800, +08:00, Z; converted to +0800), "T" or a space
//	                   between, or an Excel serial -> "2017-05-03 14:44" in +0800
//	link               http, https or ftp address with a host -> as written
//	number             positive whole number, "13.0" accepted -> "13"
//	numeric            decimal number, exponents written out -> "13.33"
//	text, area_text    as written (\r\n kept)
//
// A cell first loses a formula escape (UnescapeFormula). An empty cell sets
// nothing: an update leaves the field as it is.
//
// # Round-trip editing
//
// An export made for editing keeps each row as written (Originals, in
// CellText form). A Differ compares each row of the edited file with its
// original, matched by id, through the update Importer: cells are equal when
// they translate to the same API value (a retyped date, 13 and 13.0, 标准 and
// medium), and the update carries only the fields that changed. Edits the
// update cannot carry (a read-only column, an emptied cell, a row that was not
// exported) are row errors with an EditError code; Conflicts checks the
// changed fields against the ticket as it is now.
//
// # Mapping files
//
// A mapping file (YAML, or JSON with the same keys) adapts a file exported
// from another system. Every key is optional:
//
//	columns:            # source header -> our column (a column name of the
//	  Subject: subject  # operation, or a custom field's field_name or label)
//	  Requester email: email
//	  Product: 下拉列表字段
//	ignore:             # source headers to skip
//	  - Ticket ID
//	ignore_unknown: false  # true: skip every other column that names nothing
//	values:             # our column -> source value -> our value; a value not
//	  priority:         # listed passes through unchanged, to be checked as usual
//	    Urgent: 紧急
//	    P1: 紧急
//	defaults:           # our column -> value used when the cell is empty or
//	  priority: 标准    # the file has no such column
//	constants:          # our column -> value for every row, whatever the file says
//	  agent_group_name: 默认组
//
// Source headers, our column names and source values in values are matched
// ignoring case and white space. Translated values, defaults and constants
// are in our terms (any form a cell may take) and are checked against the
// catalog when the import starts, together with every column reference:
// all problems are reported at once.
package mapping
