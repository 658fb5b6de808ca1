#!/usr/bin/env bash
# `make demo`: start the embedded simulator on a free loopback port, then run
# the tool against it as a user would. Everything lands in $DEMO.
set -euo pipefail
BIN=${BIN:-bin/udesk-etl}
DEMO=${DEMO:-demo-out}
rm -rf "$DEMO"
mkdir -p "$DEMO/in"
# Inputs are copied so that each demo's import state starts fresh with its simulator.
cp samples/create-tickets.csv samples/create-bad-rows.csv samples/update-tickets.xlsx samples/reply-tickets.csv "$DEMO/in/"

echo "starting the simulator with 2000 generated tickets on a free loopback port..."
"$BIN" sim --tickets 2000 --seed 7 >"$DEMO/sim.out" 2>"$DEMO/sim.log" &
sim=$!
trap 'kill "$sim" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [ "$(wc -l <"$DEMO/sim.out")" -ge 2 ] && break
  sleep 0.1
done
UDESK_URL=$(sed -n 1p "$DEMO/sim.out")
UDESK_SECRET=$(sed -n 2p "$DEMO/sim.out")
export UDESK_URL UDESK_SECRET UDESK_RATE=100/s
step() { printf '\n== %s\n' "$*"; }
echo "the simulator is ready; the demo takes about half a minute"

step "simulator at $UDESK_URL with 2000 tickets; the field catalog and the filters"
"$BIN" fields
"$BIN" filters

step "export every ticket to Parquet, Excel, CSV and JSON lines in one pass"
"$BIN" export -o "$DEMO/tickets.parquet" -o "$DEMO/tickets.xlsx" -o "$DEMO/tickets.csv" -o "$DEMO/tickets.jsonl" \
  --report "$DEMO/export-report.json"

step "import --create: a dry run first, then the real thing"
"$BIN" import --create -i "$DEMO/in/create-tickets.csv" --dry-run
"$BIN" import --create -i "$DEMO/in/create-tickets.csv" --results "$DEMO/create-results"
cat "$DEMO/create-results/success.csv"

step "import --create from a file with deliberately bad rows: the good rows land, the bad ones are explained"
"$BIN" import --create -i "$DEMO/in/create-bad-rows.csv" --results "$DEMO/bad-rows-results" || [ $? -eq 3 ]
cat "$DEMO/bad-rows-results/errors.csv"

step "import --update from an Excel workbook (status, priority, select fields, tags, an internal comment)"
"$BIN" import --update -i "$DEMO/in/update-tickets.xlsx" --results "$DEMO/update-results"
cat "$DEMO/update-results/success.csv"

step "import --reply: customer replies"
"$BIN" import --reply -i "$DEMO/in/reply-tickets.csv" --results "$DEMO/reply-results"

step "round trip: an exported workbook imports back as zero changes (edit it in Excel, and only edits are sent)"
"$BIN" export --filter 2 -o "$DEMO/urgent.xlsx" --quiet
"$BIN" import --update -i "$DEMO/urgent.xlsx" --dry-run

step "sync: a Parquet dataset for reporting (snapshot, changes, field history per run)"
"$BIN" sync --dataset "$DEMO/dataset" --quiet
# Change the tenant behind the tool's back through the simulator's admin API
# (signed like the API; with no query the sign is md5(secret)).
sign=$(printf %s "$UDESK_SECRET" | md5sum | cut -d' ' -f1)
curl -fsS -X POST "$UDESK_URL/_sim/mutate?sign=$sign" -d '{"seed":1,"update":25,"delete":4,"create":6}' >"$DEMO/mutated.json"
curl -fsS -X PATCH "$UDESK_URL/_sim/fields/TextField_1?sign=$sign" -d '{"field_label":"备注"}' >/dev/null
echo "changed the tenant: 25 tickets updated, 4 deleted, 6 created, a field relabelled"
"$BIN" sync --dataset "$DEMO/dataset" --quiet
curl -fsS -X PATCH "$UDESK_URL/_sim/tickets/7?sign=$sign" -d '{"status":"closed"}' >/dev/null
echo "closed ticket 7; a changed-filter run reads only filter 6, the recently updated tickets"
"$BIN" sync --dataset "$DEMO/dataset" --changed-filter 6 --quiet
"$BIN" sync --dataset "$DEMO/dataset" --status

step "done"
echo "Outputs are in $DEMO/:"
ls -l "$DEMO"
