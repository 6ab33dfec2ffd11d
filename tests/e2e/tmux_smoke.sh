#!/usr/bin/env bash
# End-to-end smoke test of the monitor in a real terminal (tmux), driven like a person would:
# start it, wait for the panes, select a throttle, press rate-up, see the engine-confirmed new
# rate on screen, shrink and regrow the terminal, quit with q, and check the exit status and that the terminal was restored
# (alternate screen off, canonical mode back on).
#
# Usage: tests/e2e/tmux_smoke.sh [COMMAND...]
#   COMMAND defaults to $ROOKERY_E2E_CMD, else target/debug/rookery-tui-demo (the monitor on the
#   stand-in engine). To test the real thing: ROOKERY_E2E_CMD="target/debug/rookery" (live demo).
# Env: ROOKERY_E2E_THROTTLE (throttle to raise, default "messages"),
#      ROOKERY_E2E_TIMEOUT (seconds per wait, default 15), ROOKERY_E2E_OUT (captures dir).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ $# -gt 0 ]; then CMD="$*"; else CMD=${ROOKERY_E2E_CMD:-target/debug/rookery-tui-demo}; fi
THROTTLE=${ROOKERY_E2E_THROTTLE:-messages}
TIMEOUT=${ROOKERY_E2E_TIMEOUT:-15}
OUT=${ROOKERY_E2E_OUT:-target/e2e}
SOCK="rookery-e2e-$$"
S=smoke
mkdir -p "$OUT"
CONF=$(mktemp -d)
T() { tmux -L "$SOCK" "$@"; }
cleanup() { T kill-server >/dev/null 2>&1 || true; rm -rf "$CONF"; }
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  T capture-pane -p -t "$S" > "$OUT/failure-screen.txt" 2>/dev/null || true
  cat "$OUT/failure-screen.txt" >&2 || true
  exit 1
}

# Poll the screen until it matches (extended regex), with a bounded timeout: no blind sleeps.
wait_for() {
  local pattern=$1 limit=${2:-$TIMEOUT}
  local end=$((SECONDS + limit))
  until T capture-pane -p -t "$S" | grep -qE -- "$pattern"; do
    (( SECONDS < end )) || fail "timed out after ${limit}s waiting for /$pattern/"
    sleep 0.1
  done
}

# The rate column of the selected throttle's row ("▶ name  rate /interval ...").
selected_rate() {
  T capture-pane -p -t "$S" | grep -E -- "▶ $THROTTLE " | head -1 \
    | sed -E "s/.*▶ $THROTTLE +([0-9]+) .*/\1/"
}

# An isolated config dir (no user keymap), a fixed 100x30 terminal. After the monitor exits the
# pane prints its exit status and whether the tty is back in canonical mode.
T new-session -d -s "$S" -x 100 -y 30 \
  "env XDG_CONFIG_HOME='$CONF' $CMD; echo EXIT=\$?; stty -a | grep -oE -- '-?icanon' | sed 's/^/TTY=/'; sleep 60"

wait_for 'Throttles'
wait_for "[0-9]+ +/[0-9]+(m|s|ms) "          # a confirmed rate is on screen
[ "$(T display -p -t "$S" '#{alternate_on}')" = 1 ] || fail "the monitor is not on the alternate screen"

# Select the throttle: move down until its row carries the selection marker.
for _ in $(seq 1 50); do
  T capture-pane -p -t "$S" | grep -qE -- "▶ $THROTTLE " && break
  T send-keys -t "$S" j
  sleep 0.1
done
wait_for "▶ $THROTTLE +[0-9]+ "
before=$(selected_rate)
[[ "$before" =~ ^[0-9]+$ ]] || fail "could not read the rate of $THROTTLE (got '$before')"
step=$(( before / 10 )); (( step >= 1 )) || step=1
expected=$(( before + step ))

T send-keys -t "$S" '+'
# The new rate shows only once the engine's [amoc, throttle, rate] event confirms it.
wait_for "▶ $THROTTLE +$expected "
echo "rate of $THROTTLE: $before -> $expected (confirmed on screen)"
T capture-pane -p -t "$S" > "$OUT/screen.txt"
T capture-pane -p -e -t "$S" > "$OUT/screen.ansi"

# Resizing: below 80x24 a clear message, back to full size the panes again.
T resize-window -t "$S" -x 70 -y 20
wait_for 'Terminal too small'
wait_for '70x20, need at least 80x24'
T resize-window -t "$S" -x 100 -y 30
wait_for "▶ $THROTTLE +$expected "
echo "resize: too-small message at 70x20, panes back at 100x30"

T send-keys -t "$S" q
wait_for '^EXIT=[0-9]+'
status=$(T capture-pane -p -t "$S" | grep -oE '^EXIT=[0-9]+' | head -1)
[ "$status" = "EXIT=0" ] || fail "monitor exited with $status"
wait_for '^TTY='
[ "$(T display -p -t "$S" '#{alternate_on}')" = 0 ] || fail "alternate screen still on after exit"
T capture-pane -p -t "$S" | grep -qE '^TTY=icanon' || fail "terminal left in raw mode"
echo "quit: exit status 0, terminal restored"

# A panic must restore the terminal too, and leave its message readable. Needs a command that
# panics on request: ROOKERY_E2E_PANIC_CMD (default: the demo with --panic-after-ms; set it to
# an empty string to skip this part).
PANIC_CMD=${ROOKERY_E2E_PANIC_CMD-target/debug/rookery-tui-demo --panic-after-ms 1500}
if [ -n "$PANIC_CMD" ]; then
  T kill-session -t "$S"
  T new-session -d -s "$S" -x 100 -y 30 \
    "env XDG_CONFIG_HOME='$CONF' RUST_BACKTRACE=0 $PANIC_CMD; echo EXIT=\$?; stty -a | grep -oE -- '-?icanon' | sed 's/^/TTY=/'; sleep 60"
  wait_for 'Throttles'
  wait_for '^EXIT=[0-9]+'
  T capture-pane -p -t "$S" | grep -qE '^EXIT=101' || fail "a panic should exit with 101"
  wait_for '^TTY='
  [ "$(T display -p -t "$S" '#{alternate_on}')" = 0 ] || fail "alternate screen still on after a panic"
  T capture-pane -p -t "$S" | grep -qE '^TTY=icanon' || fail "terminal left in raw mode after a panic"
  T capture-pane -p -t "$S" | grep -q 'panic requested' || fail "panic message not visible"
  echo "panic: exit status 101, terminal restored, message visible"
fi
echo "PASS: exit status 0, terminal restored"
