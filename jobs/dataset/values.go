package dataset

import (
	"encoding/binary"
	"math"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// projector turns an export row (columns of the current catalog, named by
// current labels) into a snapshot row (the contract's columns, then _run).
type projector struct {
	to    []int           // export column -> contract column
	kinds []pipeline.Kind // export column kinds
	cols  []pipeline.Kind // contract column kinds
	run   string
}

func newProjector(export pipeline.Schema, c *Contract, run string) *projector {
	p := &projector{run: run}
	for _, ec := range export.Columns {
		p.to = append(p.to, c.index(ec.Field))
		p.kinds = append(p.kinds, ec.Kind)
	}
	for _, col := range c.Columns {
		k, _ := kindOf(col.Type)
		p.cols = append(p.cols, k)
	}
	return p
}

func (p *projector) project(r pipeline.Row) pipeline.Row {
	out := pipeline.Row{Values: make([]any, len(p.cols)+1)}
	out.Values[len(p.cols)] = p.run
	setRaw := func(j int, s string) {
		if out.Raw == nil {
			out.Raw = map[int]string{}
		}
		out.Raw[j] = s
	}
	for i, v := range r.Values {
		j := p.to[i]
		switch {
		case v == nil:
		case p.kinds[i] == p.cols[j]:
			out.Values[j] = v
		case p.cols[j] == pipeline.String:
			// A field whose type changed keeps its column's type.
			out.Values[j] = valueText(p.kinds[i], v)
		default:
			setRaw(j, valueText(p.kinds[i], v))
		}
	}
	for i, s := range r.Raw {
		setRaw(p.to[i], s)
	}
	return out
}

// valueText is a value as history shows it: the text of the CSV export
// (timestamps RFC 3339 in the API's offset) without the formula escape.
func valueText(k pipeline.Kind, v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []string:
		return strings.Join(v, ",")
	case time.Time:
		if k == pipeline.Date {
			return v.Format(mapping.DateLayout)
		}
		return v.In(mapping.APIZone).Format(mapping.TimestampLayout)
	}
	return mapping.CellText(k, v)
}

// cellText is a snapshot cell as text: its value, or its raw text.
func cellText(k pipeline.Kind, v any, raw map[int]string, j int) string {
	if s, ok := raw[j]; ok {
		return s
	}
	return valueText(k, v)
}

// appendCanon appends a cell's canonical bytes, which are equal exactly when
// two cells hold the same value, however the value came (a fresh export row
// or a snapshot read back, instants in any offset).
func appendCanon(b []byte, k pipeline.Kind, v any, raw map[int]string, j int) []byte {
	if s, ok := raw[j]; ok {
		return appendString(append(b, 'r'), s)
	}
	switch v := v.(type) {
	case nil:
		return append(b, 'n')
	case string:
		return appendString(append(b, 's'), v)
	case int64:
		return binary.LittleEndian.AppendUint64(append(b, 'i'), uint64(v))
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, 'f'), math.Float64bits(v))
	case time.Time:
		if k == pipeline.Date {
			return appendString(append(b, 'd'), v.Format(mapping.DateLayout))
		}
		return binary.LittleEndian.AppendUint64(append(b, 't'), uint64(v.UnixMicro()))
	case []string:
		b = binary.LittleEndian.AppendUint32(append(b, 'l'), uint32(len(v)))
		for _, s := range v {
			b = appendString(b, s)
		}
		return b
	}
	return appendString(append(b, '?'), valueText(k, v))
}

func appendString(b []byte, s string) []byte {
	return append(binary.LittleEndian.AppendUint32(b, uint32(len(s))), s...)
}
