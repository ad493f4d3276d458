#!/usr/bin/env bash
# The whole chain on one machine, with no Google account:
#   record spans into a spool -> look at it -> dry-run the upload ->
#   upload to the local Cloud Trace stand-in (real HTTP, real OAuth JWT flow)
#   -> look at the spool again; then apps instrumented with OpenTelemetry and
#   `tracing`, uploaded over OTLP.
#
# The spools are kept afterwards (their directory is printed at the end);
# builds go to $CARGO_TARGET_DIR when it is set, else ./target.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/tracespool-demo.XXXXXX")
standin=""
cleanup() {
    if [ -n "$standin" ]; then kill "$standin" 2>/dev/null || true; fi
    echo "== the spools are kept in $work (rm -r it when done)"
}
trap cleanup EXIT

echo "== building (release; the first build takes a few minutes)"
cargo build --release --quiet --workspace --bins --examples
bin=${CARGO_TARGET_DIR:-target}/release

echo "== recording 20000 spans into $work/demo.spool"
"$bin/examples/loadgen" --spool "$work/demo.spool" --spans 20000
"$bin/examples/opencensus_port" "$work/demo.spool"

echo "== what the spool holds"
"$bin/tracespool" inspect "$work/demo.spool"
"$bin/tracespool" spans "$work/demo.spool" --limit 5

echo "== the first request the uploader would send (dry run, first 400 bytes)"
"$bin/tracespool" upload "$work/demo.spool" --dry-run --project demo-project 2>/dev/null | head -c 400
echo

echo "== uploading to the local Cloud Trace stand-in"
"$bin/cloudtrace-standin" --port 0 --key-file "$work/key.json" --project demo-project > "$work/standin.log" &
standin=$!
for _ in $(seq 1 200); do grep -q endpoint "$work/standin.log" 2>/dev/null && break; sleep 0.05; done
endpoint=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/standin.log" | head -n 1)
"$bin/tracespool" upload "$work/demo.spool" --once --endpoint "$endpoint" --credentials "$work/key.json"
sleep 0.6  # let the stand-in print its tally
cat "$work/standin.log"

echo "== the spool after the upload"
"$bin/tracespool" inspect "$work/demo.spool"

echo "== an OpenTelemetry-instrumented job and a tracing-instrumented one, recorded into a second spool"
trace_otel=$("$bin/examples/otel_job" "$work/apps.spool" | awk '{print $NF}')
trace_tracing=$("$bin/examples/tracing_job" "$work/apps.spool" | awk '{print $NF}')
"$bin/tracespool" trace "$work/apps.spool" "$trace_otel"
"$bin/tracespool" trace "$work/apps.spool" "$trace_tracing"

echo "== uploading them over OTLP (as to Google's Telemetry API: protobuf, gzip, project header)"
"$bin/tracespool" upload "$work/apps.spool" --once --sink otlp --endpoint "$endpoint" --credentials "$work/key.json"
sleep 0.6
tail -n 1 "$work/standin.log"
"$bin/tracespool" inspect "$work/apps.spool"
