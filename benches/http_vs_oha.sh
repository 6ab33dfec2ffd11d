#!/usr/bin/env bash
# `rookery http` (headless, and with the monitor open) next to oha, against two servers that
# run in processes of their own: nginx (Debian's nginx-light, a static file) and the project's
# hyper server (`examples/http --serve-only`). Prints Markdown tables.
#
#   benches/http_vs_oha.sh [SECONDS] [CONNECTIONS] [ROUNDS]        # defaults: 10 64 3
#   PRECISION=0 skips the fixed-rate runs (RATES="1000 10000 50000" by default); LONG=300 adds
#   a 5-minute RSS run (0: none). MODES="headless monitor oha" and SERVERS="nginx hyper" pick
#   contenders and servers.
#
# Fairness: every contender gets the same server, connections (`--users C` / `-c C`, all
# keep-alive, HTTP/1.1), duration and machine; contenders run in a rotated order each round, so
# background load does not always land on the same one. Requests/s is counted by the *server*
# (nginx's stub_status; the hyper server's own count, printed when it stops: a fresh hyper
# server per run) divided by SECONDS, the same rule for everyone. Client CPU (user + system)
# and peak RSS come from GNU time around the client; server CPU from /proc before and after.
# Every client runs in a detached tmux session (160x48) of a tmux server of the script's own,
# and every server in a session of its own (setsid): with the kernel's autogroup scheduling a
# session is one scheduling group, so all get the same share of a busy machine. The tmux
# server's CPU during each run is reported too: the terminal's cost of the monitor.
#
# Modes:
#   rookery headless  `rookery http URL --headless --duration S --users C` (rate infinity)
#   rookery monitor   the same without --headless, quit with `q` after S + 1 seconds
#   oha --no-tui      `oha -z Ss -c C --no-tui URL` (when oha is on PATH or in ~/.cargo/bin)
# Fixed rate (PRECISION=1): `rookery http URL --headless --rate R --duration S --users C` at 1k,
# 10k and 50k req/s against nginx; nginx's own count of the requests it received, and the
# summary's `http.requests`, each compared with R x S.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-64}
ROUNDS=${3:-3}
PRECISION=${PRECISION:-1}
LONG=${LONG:-0}
ROOKERY=target/release/rookery
HYPER=target/release/examples/http
TMP=$(mktemp -d)
SERVER_PIDS=()
# A tmux server of our own (its own socket), kept up by a holder session between runs so its CPU
# can be read before and after each.
TMUX_SOCK=rookery-bench-$$
tmux() { command tmux -L "$TMUX_SOCK" "$@"; }
cleanup() {
    tmux kill-server 2>/dev/null || true
    for p in "${SERVER_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

for tool in nginx jq tmux python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
cargo build --release --quiet --bin rookery --example http
OHA=$(command -v oha || true)
[ -z "$OHA" ] && [ -x "$HOME/.cargo/bin/oha" ] && OHA="$HOME/.cargo/bin/oha"
TICK=$(getconf CLK_TCK)

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# CPU seconds (user + system) of a process and its children (nginx: master and workers).
cpu_of() {
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        [ -r "/proc/$p/stat" ] || continue
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "$total $TICK" | awk '{ printf "%.2f\n", $1 / $2 }'
}

# nginx on a free loopback port, its own prefix, config and static file.
NGX=$TMP/nginx
mkdir -p "$NGX/www" "$NGX/logs"
printf 'hello from nginx\n' >"$NGX/www/index.html"
# Run as root, nginx serves with its workers as `nobody`: mktemp's folder (mode 700) would make
# every answer a 403. The file must be readable by them.
chmod 755 "$TMP" "$NGX" "$NGX/www"
chmod 644 "$NGX/www/index.html"
NGX_PORT=$(free_port)
cat >"$NGX/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NGX/body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$NGX_PORT;
        root $NGX/www;
        location = /stub_status { stub_status; }
    }
}
EOF
setsid nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/logs/error.log" &
NGX_PID=$!
SERVER_PIDS+=("$NGX_PID")
wait_port "$NGX_PORT"
NGX_URL="http://127.0.0.1:$NGX_PORT/index.html"
# Every contender must get the static file, not an error page.
ngx_status=$(curl -s -o /dev/null -w '%{http_code}' "$NGX_URL")
if [ "$ngx_status" != 200 ]; then
    echo "nginx answers $NGX_URL with status $ngx_status, not 200: see $NGX/logs/error.log" >&2
    cat "$NGX/logs/error.log" >&2
    exit 1
fi
ngx_requests() { curl -s "http://127.0.0.1:$NGX_PORT/stub_status" | awk 'NR == 3 { print $3 }'; }

# A fresh hyper server; sets HYPER_PID and HYPER_URL.
start_hyper() {
    rm -f "$TMP/hyper.url" "$TMP/hyper.err"
    setsid "$HYPER" --serve-only >"$TMP/hyper.url" 2>"$TMP/hyper.err" &
    HYPER_PID=$!
    SERVER_PIDS+=("$HYPER_PID")
    while [ ! -s "$TMP/hyper.url" ]; do sleep 0.05; done
    HYPER_URL=$(head -1 "$TMP/hyper.url")
}

# Stops it (in this shell: `wait` needs its parent); sets HYPER_COUNT to the requests it
# received.
stop_hyper() {
    kill -TERM "$HYPER_PID"
    wait "$HYPER_PID" || true
    HYPER_COUNT=$(sed -n 's/^http example: server received \([0-9]*\) requests$/\1/p' "$TMP/hyper.err")
}

# Runs COMMAND in a detached tmux session (160x48) under GNU time (-> $TMP/time); with
# QUIT_AFTER set, sends `q` after that many seconds; waits for the session to end. Every
# client runs this way: with the kernel's autogroup scheduling, a process in a session of its
# own gets its own share of a busy machine, so a client started from this script would be
# treated differently from one in a terminal.
in_tmux() {
    local cmd=$1
    tmux new-session -d -s rookery-bench -x 160 -y 48 \
        "/usr/bin/time -f '%e %U %S %M' -o $TMP/time $cmd"
    local tmux0
    tmux0=$(cpu_of "$TMUX_PID")
    if [ -n "${QUIT_AFTER:-}" ]; then
        sleep "$QUIT_AFTER"
        tmux send-keys -t rookery-bench q
    fi
    while tmux has-session -t rookery-bench 2>/dev/null; do sleep 0.2; done
    echo "$(cpu_of "$TMUX_PID") $tmux0" | awk '{ printf "%.2f\n", $1 - $2 }' >"$TMP/tmux_cpu"
}

# One client run: MODE URL; leaves "elapsed user sys maxrss_kb" in $TMP/time and the tmux
# server's CPU seconds during the run (the terminal's cost) in $TMP/tmux_cpu.
client() {
    local mode=$1 url=$2
    rm -f "$TMP/time" "$TMP/client.err"
    case $mode in
    headless)
        QUIT_AFTER='' in_tmux "$ROOKERY http $url --headless --duration $SECS --users $CONNS >$TMP/summary.json 2>$TMP/client.err"
        ;;
    monitor)
        # The run ends itself after SECS; `q` then leaves the monitor.
        QUIT_AFTER=$((SECS + 1)) in_tmux "$ROOKERY http $url --duration $SECS --users $CONNS 2>$TMP/client.err"
        ;;
    oha)
        QUIT_AFTER='' in_tmux "$OHA -z ${SECS}s -c $CONNS --no-tui $url >/dev/null 2>$TMP/client.err"
        ;;
    esac
    if [ -s "$TMP/client.err" ]; then sed "s/^/$mode: /" "$TMP/client.err" >&2; fi
}

# Runs MODE against SERVER (nginx | hyper); appends "req/s client_cpu_s cpu_ms_per_1k rss_mb
# server_cpu_s" to $TMP/res.MODE.SERVER.
measure() {
    local mode=$1 server=$2 before after requests server_cpu
    if [ "$server" = nginx ]; then
        before=$(ngx_requests)
        local cpu0
        cpu0=$(cpu_of "$NGX_PID")
        client "$mode" "$NGX_URL"
        after=$(ngx_requests)
        # stub_status counts its own request too.
        requests=$((after - before - 1))
        server_cpu=$(echo "$(cpu_of "$NGX_PID") $cpu0" | awk '{ printf "%.2f", $1 - $2 }')
    else
        start_hyper
        client "$mode" "$HYPER_URL"
        server_cpu=$(cpu_of "$HYPER_PID")
        stop_hyper
        requests=$HYPER_COUNT
    fi
    [ -s "$TMP/time" ] || { echo "$mode against $server: no timing (the client failed)" >&2; return; }
    read -r _ user sys rss < <(grep -v '^Command' "$TMP/time")
    echo "$requests $SECS $user $sys $rss $server_cpu $(cat "$TMP/tmux_cpu")" | awk '{
        cpu = $3 + $4
        printf "%.0f %.2f %.2f %.1f %.2f %.2f\n", $1 / $2, cpu, ($1 > 0 ? cpu * 1e6 / $1 : 0), $5 / 1024, $6, $7 }' \
        >>"$TMP/res.$mode.$server"
    echo "  $mode against $server: $(tail -1 "$TMP/res.$mode.$server") (req/s, client CPU s, ms per 1k, RSS MB, server CPU s, tmux CPU s)" >&2
}

tmux new-session -d -s hold -x 80 -y 24 'sleep 100000'
TMUX_PID=$(tmux display-message -p -t hold '#{pid}')

if [ -n "${MODES:-}" ]; then
    read -r -a MODES <<<"$MODES"
else
    MODES=(headless monitor)
    [ -n "$OHA" ] && MODES+=(oha)
fi
read -r -a SERVERS <<<"${SERVERS:-nginx hyper}"
for round in $(seq "$ROUNDS"); do
    for server in "${SERVERS[@]}"; do
        # Rotate the order each round.
        n=${#MODES[@]}
        for i in $(seq 0 $((n - 1))); do
            mode=${MODES[$(((i + round) % n))]}
            echo "round $round/$ROUNDS: $mode against $server" >&2
            measure "$mode" "$server"
        done
    done
done

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { awk -v c="$1" '{ print $c }' "$2" | median; }

if [ "$ROUNDS" -gt 0 ]; then
    echo
    echo "$SECS s per run, $CONNS connections, $ROUNDS rounds (rotated order), median per cell;" \
        "$(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| server | client | requests/s | client CPU (s) | client CPU per 1k req (ms) | client peak RSS (MB) | server CPU (s) | terminal (tmux) CPU (s) |"
    echo "|---|---|---|---|---|---|---|---|"
    for server in "${SERVERS[@]}"; do
        for mode in "${MODES[@]}"; do
            f=$TMP/res.$mode.$server
            case $mode in
            headless) name="rookery http, headless" ;;
            monitor) name="rookery http, monitor open" ;;
            oha) name="oha $("$OHA" --version | awk '{ print $2 }') --no-tui" ;;
            esac
            [ -s "$f" ] || { echo "| $server | $name | (failed) | | | | | |"; continue; }
            echo "| $server | $name | $(col 1 "$f") | $(col 2 "$f") | $(col 3 "$f") | $(col 4 "$f") | $(col 5 "$f") | $(col 6 "$f") |"
        done
    done
fi
[ -n "$OHA" ] || echo "(oha is not installed: \`cargo install oha --locked\`)"

if [ "$PRECISION" = 1 ]; then
    echo
    echo "Fixed rate against nginx, \`rookery http URL --headless --rate R --duration $SECS" \
        "--users $CONNS\`; nginx's count of the requests it received (stub_status) and the" \
        "summary's \`http.requests\`, each against R x $SECS s:"
    echo
    echo "| --rate | expected | nginx counted | error | summary requests | error | late starts | backlog max |"
    echo "|---|---|---|---|---|---|---|---|"
    for rate in ${RATES:-1000 10000 50000}; do
        before=$(ngx_requests)
        "$ROOKERY" http "$NGX_URL" --headless --rate "$rate" --duration "$SECS" --users "$CONNS" \
            >"$TMP/rate.json" 2>"$TMP/rate.err" || { sed 's/^/rate run: /' "$TMP/rate.err" >&2; continue; }
        after=$(ngx_requests)
        served=$((after - before - 1))
        expected=$((rate * SECS))
        read -r summary late backlog < <(jq -r '[.http.requests, .http.late_starts, .http.backlog.max] | @tsv' "$TMP/rate.json")
        echo "$rate $expected $served $summary $late $backlog" | awk '{
            printf "| %d | %d | %d | %+.2f %% | %d | %+.2f %% | %d | %d |\n",
                $1, $2, $3, 100 * ($3 - $2) / $2, $4, 100 * ($4 - $2) / $2, $5, $6 }'
    done
    echo
    echo "Load average after the fixed-rate runs: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

if [ "$LONG" -gt 0 ]; then
    echo
    echo "RSS of \`rookery http URL --headless --duration $LONG --users $CONNS\` (nginx), every" \
        "$((LONG / 10)) s:"
    "$ROOKERY" http "$NGX_URL" --headless --duration "$LONG" --users "$CONNS" >/dev/null &
    pid=$!
    samples=()
    for _ in $(seq 10); do
        sleep $((LONG / 10))
        samples+=("$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo -)")
    done
    wait "$pid" || true
    echo
    echo "RSS (MB): ${samples[*]}"
fi
