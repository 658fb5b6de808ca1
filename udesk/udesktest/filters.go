package udesktest

import (
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// filter is a saved ticket view with a real predicate. owner 0 means every
// agent may use it; otherwise only the owner and the administrator.
type filter struct {
	id          int64
	name        string
	description string // "" is served as null
	active      bool
	permission  string
	owner       int64
	created     string
	match       func(status, priority string, assignee, agent int64) bool
	// since, when set, replaces match: the tickets updated at or after
	// this unix time.
	since int64
}

// RecentFilter is the id of the filter of recently updated tickets, the
// kind of view `sync --changed-filter` reads.
const RecentFilter = 6

// recentSince is where the filter of recently updated tickets starts: a
// week before the generated data's clock stops (the latest update a
// generated ticket of n may have). It is fixed, so that the filter reaches
// back to any earlier run, and it holds every ticket created or changed
// since the server started (they are updated now).
func (g *generator) recentSince(n int) int64 {
	return g.epoch + int64(n)*150 + 30*86400 - 7*86400
}

func defaultFilters(recentSince int64) []filter {
	at := "2017-03-17 13:30:19 +0800"
	return []filter{
		{id: 1, name: "全部打开的工单", description: "状态为打开的全部工单", active: true, permission: "All", created: at,
			match: func(st, _ string, _, _ int64) bool { return st == "open" }},
		{id: 2, name: "紧急工单", active: true, permission: "All", created: at,
			match: func(_, pr string, _, _ int64) bool { return pr == "紧急" }},
		{id: 3, name: "我的未解决工单", description: "受理客服为当前客服且状态为打开或解决中", active: true, permission: "All", created: at,
			match: func(st, _ string, assignee, agent int64) bool {
				return assignee == agent && (st == "open" || st == "solving")
			}},
		{id: 4, name: "张伟的已解决工单", active: true, permission: "Agent", owner: 3, created: at,
			match: func(st, _ string, assignee, _ int64) bool { return st == "resolved" && assignee == 3 }},
		{id: 5, name: "已关闭工单(停用)", active: false, permission: "All", created: at,
			match: func(st, _ string, _, _ int64) bool { return st == "closed" }},
		{id: RecentFilter, name: "最近更新的工单", description: "最近7天内更新的工单", active: true, permission: "All", created: at,
			since: recentSince},
	}
}

func (f *filter) usableBy(agent int64) bool {
	return f.owner == 0 || f.owner == agent || agent == adminID
}

// agentParam reads the optional agent_id; ok is false for an unknown agent.
func (s *Server) agentParam(q url.Values, def int64) (int64, bool) {
	v := q.Get("agent_id")
	if v == "" {
		return def, true
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || s.agentByID[id] == nil {
		return 0, false
	}
	return id, true
}

func (s *Server) listFilters(r *http.Request, q url.Values) []byte {
	agent, ok := s.agentParam(q, 0)
	if !ok {
		return fail(codeInvalid, msgAgentNotFound)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := scheme + "://" + r.Host + "/api/v1/ticket_filters/"
	var b []byte
	n := 0
	for i := range s.filters {
		f := &s.filters[i]
		if agent != 0 && f.owner != 0 && f.owner != agent {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, f.id, 10)
		b = append(b, `,"name":`...)
		b = appendString(b, f.name)
		b = append(b, `,"description":`...)
		b = appendNullString(b, f.description)
		b = append(b, `,"active":`...)
		b = strconv.AppendBool(b, f.active)
		b = append(b, `,"permission":`...)
		b = appendString(b, f.permission)
		b = append(b, `,"created_at":`...)
		b = appendString(b, f.created)
		b = append(b, `,"updated_at":`...)
		b = appendString(b, f.created)
		b = append(b, `,"tickets_url":`...)
		b = appendString(b, base+strconv.FormatInt(f.id, 10)+"/tickets")
		b = append(b, '}')
	}
	contents := append(append([]byte{'['}, b...), ']')
	return newReply(0, msgOK).int("count", int64(n)).raw("contents", contents).bytes()
}

func (s *Server) filterTickets(idText string, q url.Values) []byte {
	page, perPage, e := pageParams(q)
	if e != "" {
		return paramError(e)
	}
	agent, ok := s.agentParam(q, adminID)
	if !ok {
		return fail(codeInvalid, msgAgentNotFound)
	}
	id, _ := strconv.ParseInt(idText, 10, 64)
	var f *filter
	for i := range s.filters {
		if s.filters[i].id == id {
			f = &s.filters[i]
		}
	}
	if f == nil || !f.usableBy(agent) {
		return fail(codeInvalid, msgFilter)
	}
	s.churn()
	key := "filter:" + idText + ":" + strconv.FormatInt(agent, 10)
	return s.listed(key, func(id int64) bool {
		if f.since != 0 {
			at, err := time.Parse(timeLayout, s.ticket(id).UpdatedAt)
			return err == nil && at.Unix() >= f.since
		}
		status, priority, assignee, _ := s.coreOf(id)
		return f.match(status, priority, assignee, agent)
	}, page, perPage)
}
