#!/usr/bin/env bash
# `make demo`: start the embedded simulator on a free loopback port, then run
# the tool against it as a user would. Everything lands in $DEMO.
set -euo pipefail
BIN=${BIN:-bin/udesk-etl}
DEMO=${DEMO:-demo-out}
rm -rf "$DEMO"
mkdir -p "$DEMO"

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
echo "== simulator at $UDESK_URL (2000 tickets)"

echo "== udesk-etl fields"
"$BIN" fields
echo "== udesk-etl filters"
"$BIN" filters

echo "== udesk-etl export: every ticket to Parquet, Excel, CSV and JSON lines in one pass"
"$BIN" export -o "$DEMO/tickets.parquet" -o "$DEMO/tickets.xlsx" -o "$DEMO/tickets.csv" -o "$DEMO/tickets.jsonl" \
  --report "$DEMO/export-report.json"

echo "== udesk-etl import --create from samples/create-tickets.csv (some rows are deliberately bad)"
"$BIN" import --create -i samples/create-bad-rows.csv --results "$DEMO/create-results" || [ $? -eq 3 ]
echo "-- errors.csv:"
cat "$DEMO/create-results/errors.csv"

echo
echo "Outputs are in $DEMO/:"
ls -l "$DEMO"
