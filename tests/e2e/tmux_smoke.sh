#!/usr/bin/env bash
# End-to-end test of the monitor in a real terminal (tmux), driven like a person would.
#
#  1. live:   start it, wait for the panes, select a throttle, press rate-up, see the new rate
#             once the engine confirms it, shrink the terminal below 80x24 (clear message) and
#             regrow it, quit with q: exit status 0, terminal restored (alternate screen off,
#             canonical mode back on).
#  2. caught: a virtual user panics and the engine catches it: the monitor stays up, clean.
#  3. panic:  an uncaught panic restores the terminal and leaves a readable message (exit 101).
#  4. replay: a recorded Amoc log replayed at max speed shows its figures; q exits 0.
#  5. clock:  `run --users 0 --duration 4`: the clock moves with no load, the time left counts
#             down, FINISHED at the end with the figures kept; q prints the final summary on
#             the normal screen.
#  6. controls: a paused throttle's executes fall to 0; a node kill asks first (n cancels); the
#             rate prompt shows its unit and calls an overflow too big; a ramp shows its target
#             and time left and `c` cancels it; the log pane tells the engine's life; the
#             settings overlay lists the settings; q prints the summary.
#
# Commands (relative to the repository root; each phase is skipped when its variable is set to
# an empty string):
#   ROOKERY_E2E_CMD          live monitor   (default: target/debug/rookery, the built-in demo
#                                            scenario on 3 simulated nodes)
#   ROOKERY_E2E_CAUGHT_CMD   live monitor whose engine catches a user panic (default: the
#                            test harness target/debug/rookery-tui-demo, which can panic on request)
#   ROOKERY_E2E_PANIC_CMD    live monitor that panics once the file $ROOKERY_E2E_PANIC_FILE
#                            exists (the script creates it when the panes are up)
#   ROOKERY_E2E_REPLAY_CMD   replay of assets/logs/amoc-sample.jsonl at max speed
#   ROOKERY_E2E_CLOCK_CMD    a live run with no users that lasts 4 s
#   ROOKERY_E2E_CONTROLS_CMD the live demo again, for the steering keys
# Other knobs: ROOKERY_E2E_THROTTLE (default "messages"), ROOKERY_E2E_TIMEOUT (seconds per wait,
# default 15), ROOKERY_E2E_OUT (captures, default target/e2e). A first argument overrides
# ROOKERY_E2E_CMD.
set -euo pipefail
cd "$(dirname "$0")/../.."

DEMO=target/debug/rookery-tui-demo
CMD=${1:-${ROOKERY_E2E_CMD-target/debug/rookery}}
CAUGHT_CMD=${ROOKERY_E2E_CAUGHT_CMD-$DEMO --caught-panic-after-ms 300}
CONF=$(mktemp -d)
PANIC_FILE=${ROOKERY_E2E_PANIC_FILE:-$CONF/panic-now}
PANIC_CMD=${ROOKERY_E2E_PANIC_CMD-$DEMO --panic-when-file $PANIC_FILE}
REPLAY_CMD=${ROOKERY_E2E_REPLAY_CMD-target/debug/rookery replay assets/logs/amoc-sample.jsonl --speed max}
CLOCK_CMD=${ROOKERY_E2E_CLOCK_CMD-target/debug/rookery run --users 0 --duration 4}
CONTROLS_CMD=${ROOKERY_E2E_CONTROLS_CMD-target/debug/rookery}
THROTTLE=${ROOKERY_E2E_THROTTLE:-messages}
TIMEOUT=${ROOKERY_E2E_TIMEOUT:-15}
OUT=${ROOKERY_E2E_OUT:-target/e2e}
SOCK="rookery-e2e-$$"
S=none
PHASE=0
mkdir -p "$OUT"
T() { tmux -L "$SOCK" "$@"; }
cleanup() { T kill-server >/dev/null 2>&1 || true; rm -rf "$CONF"; }
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  T capture-pane -p -t "$S" > "$OUT/failure-screen.txt" 2>/dev/null || true
  cat "$OUT/failure-screen.txt" >&2 || true
  exit 1
}

screen() { T capture-pane -p -t "$S"; }

# Poll the screen until it matches (extended regex), with a bounded timeout: no blind sleeps.
wait_for() {
  local pattern=$1 limit=${2:-$TIMEOUT}
  local end=$((SECONDS + limit))
  until screen | grep -qE -- "$pattern"; do
    (( SECONDS < end )) || fail "timed out after ${limit}s waiting for /$pattern/"
    sleep 0.1
  done
}

# Starts "$1" in a fresh 100x30 session with no user config. After the command ends the pane
# shows its exit status and whether the tty is back in canonical mode.
start() {
  # A new session per phase; the old one goes after (killing the last session first would
  # stop the tmux server under the next command).
  local old=$S
  PHASE=$((PHASE + 1)); S="phase$PHASE"
  T new-session -d -s "$S" -x 100 -y 30 \
    "env XDG_CONFIG_HOME='$CONF' RUST_BACKTRACE=0 $1; echo EXIT=\$?; stty -a | grep -oE -- '-?icanon' | sed 's/^/TTY=/'; sleep 60"
  T kill-session -t "$old" >/dev/null 2>&1 || true
}

alternate() { T display -p -t "$S" '#{alternate_on}'; }

# Waits for the command to end with status $1 and checks the terminal was restored.
expect_exit() {
  wait_for '^EXIT=[0-9]+'
  local status
  status=$(screen | grep -oE '^EXIT=[0-9]+' | head -1)
  [ "$status" = "EXIT=$1" ] || fail "expected EXIT=$1, got $status"
  wait_for '^TTY='
  [ "$(alternate)" = 0 ] || fail "alternate screen still on after exit"
  screen | grep -qE '^TTY=icanon' || fail "terminal left in raw mode"
}

# The rate column of the selected throttle's row ("▶ name  rate /interval ..." on wide
# screens, "▶ name  rate/interval ..." on narrow ones).
selected_rate() {
  screen | grep -E -- "▶ $THROTTLE " | head -1 | sed -E "s/.*▶ $THROTTLE +([0-9]+)[ \/].*/\1/"
}

# Selects $THROTTLE with j once its confirmed rate is on screen.
select_throttle() {
  wait_for 'Throttles'
  wait_for "[0-9]+ ?/[0-9]+(m|s|ms) "        # a confirmed rate is on screen
  for _ in $(seq 1 50); do
    screen | grep -qE -- "▶ $THROTTLE " && break
    T send-keys -t "$S" j
    sleep 0.1
  done
  wait_for "▶ $THROTTLE +[0-9]+[ /]"
}

# 1. live
if [ -n "$CMD" ]; then
start "$CMD"
wait_for 'Throttles'
[ "$(alternate)" = 1 ] || fail "the monitor is not on the alternate screen"
select_throttle
before=$(selected_rate)
[[ "$before" =~ ^[0-9]+$ ]] || fail "could not read the rate of $THROTTLE (got '$before')"
step=$(( before / 10 )); (( step >= 1 )) || step=1
expected=$(( before + step ))
T send-keys -t "$S" '+'
# The new rate shows only once the engine's [amoc, throttle, rate] event confirms it.
wait_for "▶ $THROTTLE +$expected[ /]"
echo "live: rate of $THROTTLE $before -> $expected (confirmed on screen)"
screen > "$OUT/screen.txt"
T capture-pane -p -e -t "$S" > "$OUT/screen.ansi"
T resize-window -t "$S" -x 70 -y 20
wait_for 'Terminal too small'
wait_for '70x20, need at least 80x24'
T resize-window -t "$S" -x 100 -y 30
wait_for "▶ $THROTTLE +$expected[ /]"
echo "live: resize: too-small message at 70x20, panes back at 100x30"
T send-keys -t "$S" q
expect_exit 0
echo "live: quit: exit status 0, terminal restored"
fi

# 2. a panic the engine catches leaves the monitor alone
if [ -n "$CAUGHT_CMD" ]; then
  start "$CAUGHT_CMD"
  wait_for 'Throttles'
  wait_for 'caught a virtual user'
  [ "$(alternate)" = 1 ] || fail "a caught panic restored the terminal under the monitor"
  screen | grep -q 'panicked at' && fail "a caught panic printed over the screen"
  T send-keys -t "$S" q
  expect_exit 0
  echo "caught: monitor stayed up and clean, exit status 0"
fi

# 3. an uncaught panic restores the terminal and its message stays readable
if [ -n "$PANIC_CMD" ]; then
  start "$PANIC_CMD"
  wait_for 'Throttles'
  touch "$PANIC_FILE"
  expect_exit 101
  screen | grep -q 'panic requested' || fail "panic message not visible"
  echo "panic: exit status 101, terminal restored, message visible"
fi

# 4. replay of a real Amoc log
if [ -n "$REPLAY_CMD" ]; then
  start "$REPLAY_CMD"
  wait_for 'REPLAY end'
  wait_for 'login +3 ?/1s'
  wait_for 'running 2  added 18'
  T send-keys -t "$S" Left                   # seek back 10 s: rebuilt, then played to the end
  wait_for 'REPLAY end'
  T send-keys -t "$S" q
  expect_exit 0
  echo "replay: figures of the Amoc sample on screen, exit status 0"
fi
# 5. the clock of a live run without load, its end, and the summary on quit
if [ -n "$CLOCK_CMD" ]; then
  start "$CLOCK_CMD"
  wait_for 'LIVE 0:0[1-4] left'
  wait_for 'left +0:0[3-9] '                 # elapsed time moves with no users
  wait_for 'FINISHED +0:0[4-5] '
  sleep 1.5
  screen | grep -qE 'FINISHED +0:0[4-5] ' || fail "the clock went on after the end"
  T send-keys -t "$S" q
  expect_exit 0
  screen | grep -qE '^rookery: run finished after 0:0[4-5]' || fail "no final summary"
  screen | grep -qE '^  users +0 added' || fail "the summary lacks the users"
  echo "clock: moves without load, time left, FINISHED keeps the figures, summary printed"
fi

# 6. the steering keys on the live demo
if [ -n "$CONTROLS_CMD" ]; then
  start "$CONTROLS_CMD"
  select_throttle
  T send-keys -t "$S" p
  wait_for "▶ $THROTTLE .* paused"
  # Executes/s (after the state at 100 columns) falls to 0.0 within a few seconds.
  wait_for "▶ $THROTTLE .* paused +0\.0 " 10
  T send-keys -t "$S" p
  wait_for "▶ $THROTTLE .* running"
  echo "controls: a paused throttle's executes fall to 0"
  T send-keys -t "$S" X
  wait_for 'kill node node2 and its users\? \(y/n\)'
  T send-keys -t "$S" n
  wait_for 'not sent: kill node2'
  screen | grep -qE '^│\* node1 +up' || fail "the master went down"
  echo "controls: a node kill asks first; n cancels"
  T send-keys -t "$S" r
  wait_for "Rate for $THROTTLE \(per 1m; a whole number or infinity\)"
  T send-keys -t "$S" 99999999999999999999 Enter
  wait_for 'is too big: the largest rate is 9223372036854775807'
  T send-keys -t "$S" Escape
  T send-keys -t "$S" g
  wait_for "Ramp $THROTTLE: TARGET \(per 1m\) SECONDS"
  T send-keys -t "$S" '1200 30' Enter
  wait_for "▶ $THROTTLE .*ramping → 1200 0:(2[0-9]|30)"
  T send-keys -t "$S" c
  wait_for "ramp of $THROTTLE cancelled"
  echo "controls: prompts show the unit and call overflow too big; a ramp shows target and time left; c cancels it"
  T send-keys -t "$S" l
  wait_for 'node node1 up \(master\)'
  screen | grep -q 'Tui Ta' && fail "the old empty log widget is back"
  T send-keys -t "$S" Escape
  T send-keys -t "$S" s
  wait_for 'Settings \(value, source'
  wait_for 'think_time'
  T send-keys -t "$S" Escape
  echo "controls: the log pane tells the engine's life; the settings overlay lists them"
  T send-keys -t "$S" q
  expect_exit 0
  screen | grep -qE '^rookery: run stopped from the monitor after' || fail "no final summary"
  screen | grep -qE "^ +$THROTTLE +" || fail "the summary lacks the throttles"
  echo "controls: quit prints the final summary"
fi
echo "PASS: exit status 0, terminal restored"
