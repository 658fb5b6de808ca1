// Package udesktest is a Udesk ticket API simulator, like net/http/httptest:
// NewServer starts it on a free loopback port and Handler exposes it as an
// http.Handler. It is a second, independent reading of the API spec and
// imports nothing else of this module.
//
// # Endpoints
//
// Every endpoint of the spec, with or without ".json" (keys as counted by
// Server.Requests):
//
//	GET  /api/v1/tickets                     list (page, per_page 1..100, default 20)
//	POST /api/v1/tickets/get                 a customer's tickets, body {"email"}
//	GET  /api/v1/tickets/:id                 one ticket
//	POST /api/v1/tickets                     create: status/priority as Chinese names, select fields as option indexes in ticket_field
//	PUT  /api/v1/tickets/:id                 update: status/priority as English names, select fields as option labels in custom_fields
//	POST /api/v1/tickets/reply               customer reply, body {"id","reply_content","email"}
//	GET  /api/v2/ticket_fields               the field catalog (FieldsReply)
//	GET  /api/v1/ticket_filters              filters, optional agent_id
//	GET  /api/v1/ticket_filters/:id/tickets  a filter's tickets, optional agent_id (default: the administrator)
//
// Every request must carry sign = md5(query-without-sign + "&" + secret), or
// md5(secret) when sign is the only parameter, in lowercase hex; the query is
// accepted hashed as sent or with its parameters sorted by key. A bad or
// missing sign answers status 2002. Business errors answer HTTP 200 with the
// spec's status code and message; parameter errors (the spec's "error" texts
// such as "per_page should be between 1 and 100") answer status 1001,
// message "参数错误" and the text in "error". Reads serve status as an English
// name, priority as a Chinese name, select values as index strings and times
// as "2006-01-02 15:04:05 +0800"; empty optional values are served as null.
//
// The saved filters are 1 open tickets, 2 urgent ones, 3 the agent's
// unresolved ones, 4 one agent's resolved ones (owned by agent 3), 5 closed
// ones (inactive) and 6 (RecentFilter) the recently updated ones: those
// updated in the week before the generated data's clock stops, and every
// ticket created or changed since the server started. Filter 6 is the kind
// of view `udesk-etl sync --changed-filter` reads.
//
// The list order is ascending ticket id, new tickets last; with
// Options.Order = OrderNewest it is descending id, new tickets first, so a
// ticket created while a client pages pushes the rest down by one.
//
// # Changes behind the client's back
//
// Go hooks: CreateTicket, UpdateTicket, DeleteTicket, Mutate for tickets;
// AddField, RemoveField, RelabelField, RelabelOption for the catalog, which
// GET /api/v2/ticket_fields reflects at once. An update always moves
// updated_at later (to now, or one second past its previous value).
//
// The admin API does the same for another process. Requests are signed like
// the API (same secret and sign rule), skip the budget, latency and faults,
// and are counted and logged under their own keys ("POST /_sim/mutate").
// Bodies are JSON; replies are {"status":0,"message":"成功",...} on success,
// else HTTP 400 with status 1001 and the reason in "error", HTTP 404 for an
// unknown ticket or field, HTTP 403 with status 2002 for a bad sign.
//
//	POST   /_sim/tickets        create; body: ticket in wire-read form, any members ({} is fine;
//	                            blanks come from the generated ticket of the new id); reply "ticket_id"
//	PATCH  /_sim/tickets/:id    update (PUT and POST too); body: the members to change in wire-read
//	                            form, custom_fields merged (select values as index strings, null clears);
//	                            reply "contents": the ticket as now served
//	DELETE /_sim/tickets/:id    delete
//	POST   /_sim/fields         add a field; body {"field_name" (optional), "field_label",
//	                            "content_type", "options": ["label", ...] for droplist/radio/checkbox};
//	                            reply "field_name"
//	PATCH  /_sim/fields/:name   relabel (PUT and POST too); body {"field_label"} and/or
//	                            {"options": {"1": "new label"}}
//	DELETE /_sim/fields/:name   remove a field
//	POST   /_sim/mutate         body {"seed", "update", "delete", "create"} (see Mutation);
//	                            reply "updated", "deleted", "created": the ids, in order
//
// With the secret in $SECRET, an empty query signs as md5(secret):
//
//	sign=$(printf %s "$SECRET" | md5sum | cut -d' ' -f1)
//	curl -s -X POST "$URL/_sim/mutate?sign=$sign" -d '{"seed":1,"update":5,"delete":2,"create":3}'
//	curl -s -X PATCH "$URL/_sim/tickets/7?sign=$sign" -d '{"status":"closed","custom_fields":{"TextField_1":"x"}}'
//	curl -s -X PATCH "$URL/_sim/fields/SelectField_1?sign=$sign" -d '{"options":{"0":"新选项"}}'
//
// # Data set
//
// Options.Tickets tickets are generated from Options.Seed: ticket i is a pure
// function of (seed, i) and is only materialised when read, so a million
// tickets cost sixteen bytes each until they are changed, plus a bounded
// cache of their encoded form, compressed to about 190 bytes a ticket
// (Options.CacheBytes), for repeated reads. Agents, groups and
// the first customers are fixed (see Server.Agents, Server.Groups,
// Server.Customers); the spec's own examples (agent@sample.com, 默认组,
// test@sample.com) work as written.
//
// # Faults
//
// ParseFaults reads a comma-separated list of items:
//
//	kind=rate            inject kind into that fraction of all requests
//	kind@endpoint=rate   only into requests to endpoint
//	seed=N               seed of the fault RNG (default 0)
//
// rate is a probability ("0.05") or a percentage ("5%"); the rates of one
// endpoint must add up to at most 1 (a request gets at most one fault).
// endpoint is one of list, customer, ticket, create, update, reply, fields,
// filters, filter-tickets. Kinds:
//
//	500, 502, 503   that HTTP status (500 with a text body, 502/503 with a proxy's HTML page); not processed
//	429             HTTP 429 with Retry-After: 1; not processed
//	429-bare        HTTP 429 without Retry-After; not processed
//	html            HTTP 200 with an HTML maintenance page; not processed
//	html-502        HTTP 502 with an HTML page; not processed
//	reset-before    the connection is reset before processing
//	reset-after     the request is processed (a create creates its ticket), then the connection is reset without a reply
//	slow            processed; the reply body is dribbled over Options.SlowBody
//	cut             processed; the reply stops halfway through its JSON and the connection closes
//	stall           held without a reply for Options.Stall or until the client gives up, then reset; not processed
//	redirect        HTTP 302 to https://login.example.invalid/?return_to=<request URI, query and sign included, percent-encoded>; the HTML body repeats that URL; not processed
//	429-long        HTTP 429 with an HTTP-date Retry-After one day ahead; not processed
//
// Example: "500=0.05,429=0.02,reset-after@create=0.01,seed=7".
// Server.FailNext forces the next n requests of an endpoint to get a fault,
// for deterministic tests. The request budget (Options.Rate, Options.Burst)
// is checked before faults: a request over budget gets HTTP 429 with a
// Retry-After in whole seconds and is not processed.
package udesktest
