#!/usr/bin/env bash
# Requests per second of the `http` example (Rookery, headless and with the monitor open) next
# to oha against the same server, on the same machine, in one run. Prints a Markdown table.
#
#   examples/http_vs_oha.sh [SECONDS] [CONNECTIONS] [REPEATS]     # defaults: 10 64 3
#
# Rookery: `http run --headless --duration S --users C --set request_rate=infinity
# --set user_rate=infinity`; requests/s = the summary's `http.request.stop` count divided by
# its `duration_s`. The monitor run is the same command without --headless inside a detached
# tmux session (160x48), quit with `q` after S seconds; requests/s = the server's count / S.
# oha: `http --serve-only` (the same server, alone in its process), then
# `oha -z Ss -c C --no-tui` against it; requests/s = oha's own figure (the server's count / S
# is printed next to it); and oha with its TUI in tmux (requests/s = the server's count / S).
# Each mode runs REPEATS times, alternating; the table shows the median.
# Needs oha on PATH (`cargo install oha --locked`); without it only Rookery is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-64}
REPEATS=${3:-3}
BIN=target/release/examples/http
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

cargo build --release --quiet --example http
OHA=$(command -v oha || true)
[ -z "$OHA" ] && [ -x "$HOME/.cargo/bin/oha" ] && OHA="$HOME/.cargo/bin/oha"
TMUX_OK=$(command -v tmux || true)

server_count() { sed -n 's/^http example: server received \([0-9]*\) requests$/\1/p' "$1"; }

rookery_headless() {
    "$BIN" run --headless --duration "$SECS" --users "$CONNS" \
        --set request_rate=infinity --set user_rate=infinity >"$TMP/summary.json" 2>"$TMP/err"
    local stops dur server
    stops=$(jq '.by_event["http.request.stop"] // 0' "$TMP/summary.json")
    dur=$(jq '.duration_s' "$TMP/summary.json")
    server=$(server_count "$TMP/err")
    [ "$stops" = "$server" ] || echo "warning: server counted $server, summary $stops" >&2
    echo "$stops $dur" | awk '{ printf "%.0f\n", $1 / $2 }'
}

rookery_monitor() {
    rm -f "$TMP/err"
    tmux new-session -d -s rookery-bench -x 160 -y 48 \
        "$BIN run --duration $SECS --users $CONNS --set request_rate=infinity --set user_rate=infinity 2>$TMP/err"
    sleep "$SECS"
    sleep 1
    tmux send-keys -t rookery-bench q
    while tmux has-session -t rookery-bench 2>/dev/null; do sleep 0.2; done
    echo "$(server_count "$TMP/err") $SECS" | awk '{ printf "%.0f\n", $1 / $2 }'
}

oha_run() {
    rm -f "$TMP/url" "$TMP/serve_err"
    "$BIN" --serve-only >"$TMP/url" 2>"$TMP/serve_err" &
    local pid=$!
    while [ ! -s "$TMP/url" ]; do sleep 0.05; done
    local url
    url=$(head -1 "$TMP/url")
    if "$OHA" --help | grep -q -- '--output-format'; then
        "$OHA" -z "${SECS}s" -c "$CONNS" --no-tui --output-format json "$url" >"$TMP/oha.json"
    else
        "$OHA" -z "${SECS}s" -c "$CONNS" --no-tui --json "$url" >"$TMP/oha.json"
    fi
    kill -TERM "$pid"
    wait "$pid" || true
    local rps server
    rps=$(jq '.summary.requestsPerSec' "$TMP/oha.json")
    server=$(server_count "$TMP/serve_err")
    echo "$rps $server $SECS" | awk '{ printf "%.0f (server: %.0f)\n", $1, $2 / $3 }'
}

oha_tui() {
    rm -f "$TMP/url" "$TMP/serve_err"
    "$BIN" --serve-only >"$TMP/url" 2>"$TMP/serve_err" &
    local pid=$!
    while [ ! -s "$TMP/url" ]; do sleep 0.05; done
    tmux new-session -d -s oha-bench -x 160 -y 48 "$OHA -z ${SECS}s -c $CONNS $(head -1 "$TMP/url")"
    sleep "$SECS"
    sleep 1
    tmux kill-session -t oha-bench 2>/dev/null || true
    kill -TERM "$pid"
    wait "$pid" || true
    echo "$(server_count "$TMP/serve_err") $SECS" | awk '{ printf "%.0f\n", $1 / $2 }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: >"$TMP/headless"
: >"$TMP/monitor"
: >"$TMP/oha"
: >"$TMP/oha_tui"
for i in $(seq "$REPEATS"); do
    echo "round $i/$REPEATS" >&2
    rookery_headless >>"$TMP/headless"
    [ -n "$TMUX_OK" ] && rookery_monitor >>"$TMP/monitor"
    [ -n "$OHA" ] && oha_run >>"$TMP/oha"
    [ -n "$OHA" ] && [ -n "$TMUX_OK" ] && oha_tui >>"$TMP/oha_tui"
done

echo
echo "$SECS s per run, $CONNS connections (users), median of $REPEATS runs; $(nproc) cores;" \
    "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| load generator | requests/s (median) | all runs |"
echo "|---|---|---|"
echo "| Rookery \`http\` example, headless | $(median <"$TMP/headless") | $(paste -sd' ' "$TMP/headless") |"
if [ -s "$TMP/monitor" ]; then
    echo "| Rookery \`http\` example, monitor open (tmux) | $(median <"$TMP/monitor") | $(paste -sd' ' "$TMP/monitor") |"
fi
if [ -s "$TMP/oha" ]; then
    echo "| oha $("$OHA" --version | awk '{print $2}') --no-tui | $(cut -d' ' -f1 "$TMP/oha" | median) | $(cut -d' ' -f1 "$TMP/oha" | paste -sd' ') |"
else
    echo "| oha | not installed | |"
fi
if [ -s "$TMP/oha_tui" ]; then
    echo "| oha, its TUI open (tmux; server's count / $SECS s) | $(median <"$TMP/oha_tui") | $(paste -sd' ' "$TMP/oha_tui") |"
fi
