#!/usr/bin/env bash
# Rumor on a simulated LAN: N hosts (default 20), one network namespace each, on a bridge that
# lives in its own namespace (10.77.0.0/24), each running `rumor agent --preset lan` on its own
# address. Checks, with figures:
#   1. convergence: every host sees all N alive;
#   2. 10 % packet loss on every host (nftables `numgen random`, tc netem is not in this
#      kernel) for LOSS_SECS: no host ever reports anyone failed;
#   3. a partition into two halves (nftables drops between the groups) is detected, then healed:
#      one converged view again;
#   4. SIGKILL of one agent: every other host reports it failed; SIGTERM of another: left;
#   5. mDNS: agents started with --mdns and no --join find each other across namespaces.
# Needs root, iproute2, nftables and jq (installed with apt-get if missing). Without them it
# prints `SKIPPED: netns — <reason>` and exits 0. Everything it creates is removed on exit,
# and leftovers of a crashed earlier run are removed at start.
#
# Environment: RUMOR_BIN (default target/debug/rumor, built if missing), RUMOR_NETNS_HOSTS (20),
# RUMOR_NETNS_LOSS_SECS (90), RUMOR_NETNS_LOGS (logs directory, default /tmp/rumor-netns),
# RUMOR_NETNS_VERBOSE=1 (say what each wait is still waiting for).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${RUMOR_NETNS_HOSTS:-20}
LOSS_SECS=${RUMOR_NETNS_LOSS_SECS:-90}
LOGS=${RUMOR_NETNS_LOGS:-/tmp/rumor-netns}
BIN=${RUMOR_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/rumor}
NS=rnt              # namespace prefix: rnt-br (the bridge), rnt-h1 … rnt-hN
NET=10.77.0
PORT=7946           # gossip (UDP)
HTTP=7947           # HTTP (TCP), on the host's own address
MDNS_PORT=7956      # the mDNS agents' gossip port (their HTTP is MDNS_PORT + 1; no admin
                    # listener: the host agent of the same namespace holds 127.0.0.1:7948)
MDNS_HOSTS=3

say() { printf '%s netns: %s\n' "$(date +%T)" "$*"; }
skip() { echo "SKIPPED: netns — $*"; exit 0; }

# ---- prerequisites --------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, nftables)"
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  command -v apt-get >/dev/null || skip "apt-get unavailable to install ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1 \
    || skip "apt-get could not install ${missing[*]}"
fi
[ "$N" -ge 4 ] && [ "$N" -le 250 ] || { echo "netns: RUMOR_NETNS_HOSTS must be 4..250" >&2; exit 2; }
if [ ! -x "$BIN" ]; then
  say "building rumor"
  (cd "$ROOT" && cargo build -q -p rumor-node)
fi

# ---- one run at a time ----------------------------------------------------------------------
# Two runs on one machine (say, two worktrees' CI) would tear down each other's namespaces.
# Agents are started with fd 9 closed, so a crashed run's leftovers do not hold the lock.
exec 9>/tmp/rumor-netns.lock
if ! flock -n 9; then
  say "another netns run holds /tmp/rumor-netns.lock; waiting for it (at most 10 min)"
  flock -w 600 9 || { echo "FAIL: netns — another run kept /tmp/rumor-netns.lock for 10 min" >&2; exit 1; }
fi

# ---- clean-up (also of a crashed earlier run) -----------------------------------------------
our_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$NS-(br|h[0-9]+)$" || true; }
cleanup() {
  local ns pid
  # Bash reports each killed background job; at exit that is noise.
  [ "${1:-}" = quiet ] && exec 2>/dev/null
  for ns in $(our_namespaces); do
    # Only our agents run in our namespaces; they must go before the namespace can.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  for ns in $(our_namespaces); do ip netns del "$ns" 2>/dev/null || true; done
  [ -z "${SNAP:-}" ] || rm -rf "$SNAP"
}
trap "cleanup quiet" EXIT
trap 'exit 130' INT TERM
cleanup
ip netns add "$NS-probe" 2>/dev/null && ip netns del "$NS-probe" || skip "cannot create network namespaces here"
rm -rf "$LOGS" && mkdir -p "$LOGS"

# ---- the LAN --------------------------------------------------------------------------------
say "creating $N hosts on a bridge ($NET.0/24)"
ip netns add "$NS-br"
ip -n "$NS-br" link add br0 type bridge
# Flood multicast to every port (no IGMP querier here), so mDNS works.
ip -n "$NS-br" link set br0 type bridge mcast_snooping 0
ip -n "$NS-br" link set br0 up
for i in $(seq 1 "$N"); do
  h="$NS-h$i"
  ip netns add "$h"
  ip link add veth0 netns "$h" type veth peer name bp$i netns "$NS-br"
  ip -n "$NS-br" link set bp$i master br0 up
  ip -n "$h" addr add "$NET.$i/24" dev veth0
  ip -n "$h" link set veth0 up
  ip -n "$h" link set lo up
  ip -n "$h" route add 224.0.0.0/4 dev veth0
done

# ---- helpers --------------------------------------------------------------------------------
declare -a PID ALIVE_HOSTS
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { printf '%d.%01d s' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); }

start_agent() { # i [extra args…]
  local i=$1; shift
  ip netns exec "$NS-h$i" env RUST_LOG=info NO_COLOR=1 "$BIN" agent --name "h$i" --preset lan \
    --bind "$NET.$i:$PORT" --http "$NET.$i:$HTTP" "$@" >>"$LOGS/h$i.log" 2>&1 9>&- &
  PID[$i]=$!
}

# "name state" lines of host i's view (empty if it does not answer).
view() { ip netns exec "$NS-h$1" "$BIN" members --json --http "$NET.$1:${2:-$HTTP}" 2>/dev/null \
  | jq -r '.members[] | "\(.name) \(.state)"' 2>/dev/null || true; }

# metric I NAME: one sample of host i's /metrics (plain bash HTTP, so curl is not needed).
metric() {
  ip netns exec "$NS-h$1" timeout 5 bash -c \
    'exec 3<>/dev/tcp/$0/$1 && printf "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n" >&3 && cat <&3' "$NET.$1" "$HTTP" 2>/dev/null \
    | tr -d '\r' | awk -v n="$2" '$1 == n {print $2}' || true
}

dump() {
  echo "=== views of every host (logs in $LOGS) ==="
  for i in $(seq 1 "$N"); do
    printf -- '--- h%s: ' "$i"
    view "$i" | awk '{n[$2]++; if ($2 != "alive") bad = bad " " $1 "=" $2} END {for (s in n) printf "%s=%d ", s, n[s]; print bad}'
  done
  for f in "$LOGS"/*.log; do echo "--- tail of $(basename "$f")"; tail -n 8 "$f"; done
}
fail() { echo "FAIL: netns — $*" >&2; dump >&2; exit 1; }

# wait_for WHAT TIMEOUT_S CHECK [ARGS…]: polls CHECK (which sets WHY when false) every second.
WHY=""
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$(( $(now_ms) + timeout * 1000 ))
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "timed out after ${timeout} s waiting for $what: $WHY"
    [ -z "${RUMOR_NETNS_VERBOSE:-}" ] || say "still waiting for $what: $WHY"
    sleep 0.5
  done
}

# expect_states "name1 name2 …" STATE: every host in ALIVE_HOSTS sees each name in STATE.
# snapshot: every host in ALIVE_HOSTS is asked at once (a serial pass over 20 hosts takes
# seconds, which would blur the figures); view_of I then reads host i's answer.
SNAP=$(mktemp -d /tmp/rumor-netns-snap.XXXXXX)
snapshot() {
  local i pids=()
  for i in "${ALIVE_HOSTS[@]}"; do
    { t=$(now_ms); view "$i" >"$SNAP/$i"; echo $(( $(now_ms) - t )) >"$SNAP/$i.ms"; } & pids+=($!)
  done
  wait "${pids[@]}" 2>/dev/null || true
  if [ -n "${RUMOR_NETNS_VERBOSE:-}" ]; then
    say "snapshot: slowest answers (ms) $(for i in "${ALIVE_HOSTS[@]}"; do echo "h$i=$(cat "$SNAP/$i.ms")"; done \
      | sort -t= -k2 -n -r | head -3 | tr '\n' ' ')"
  fi
}
view_of() { cat "$SNAP/$1" 2>/dev/null || true; }

expect_states() {
  local names=$1 state=$2 i bad
  snapshot
  for i in "${ALIVE_HOSTS[@]}"; do
    [ -s "$SNAP/$i" ] || { WHY="h$i does not answer"; return 1; }
    # One awk per host: a process per (host, name) pair costs seconds on two cores.
    bad=$(awk -v names="$names" -v want="$state" '
      { got[$1] = $2 }
      END {
        n = split(names, list, " ")
        for (k = 1; k <= n; k++) {
          if (!(list[k] in got)) { print list[k] " as absent"; exit }
          if (got[list[k]] != want) { print list[k] " as " got[list[k]]; exit }
        }
      }' "$SNAP/$i")
    [ -z "$bad" ] || { WHY="h$i sees $bad, want $state"; return 1; }
  done
}

hosts() { local from=$1 to=$2 i out=""; for i in $(seq "$from" "$to"); do out+="h$i "; done; echo "$out"; }
ALL_NAMES=$(hosts 1 "$N")
ALIVE_HOSTS=($(seq 1 "$N"))

# ---- 1. convergence -------------------------------------------------------------------------
say "starting $N agents (seeds h1, h2)"
t0=$(now_ms)
for i in $(seq 1 "$N"); do start_agent "$i" --join "$NET.1:$PORT,$NET.2:$PORT"; done
wait_for "all $N hosts to see all $N alive" 60 expect_states "$ALL_NAMES" alive
CONVERGE=$(( $(now_ms) - t0 ))
say "converged in $(secs $CONVERGE)"

# ---- 2. 10 % loss on every host, no false failures ------------------------------------------
say "10 % loss on every host's port for $LOSS_SECS s"
{
  echo "table netdev rnt_loss {"
  for i in $(seq 1 "$N"); do
    echo "  chain h$i { type filter hook ingress device \"bp$i\" priority 0; policy accept;"
    echo "    meta protocol ip ip protocol udp counter"
    echo "    meta protocol ip ip protocol udp numgen random mod 100 < 10 counter drop; }"
  done
  echo "}"
} | ip netns exec "$NS-br" nft -f -
suspect_seen=0; failed_seen=0; polls=0; FALSE=""
loss_end=$(( $(now_ms) + LOSS_SECS * 1000 ))
while [ "$(now_ms)" -lt "$loss_end" ]; do
  snapshot
  for i in "${ALIVE_HOSTS[@]}"; do
    [ -s "$SNAP/$i" ] || fail "h$i stopped answering under loss"
    read -r s f bad < <(awk '$2 == "suspect" {s++} $2 == "failed" || $2 == "left" {f++; b = b $1 "=" $2 ","}
                             END {print s + 0, f + 0, b "-"}' "$SNAP/$i")
    suspect_seen=$(( suspect_seen + s )); failed_seen=$(( failed_seen + f ))
    [ "$f" = 0 ] || FALSE+="h$i sees ${bad%-}"$'\n'
  done
  polls=$(( polls + 1 ))
  sleep 1
done
counters=$(ip netns exec "$NS-br" nft list table netdev rnt_loss)
LOSS_SEEN=$(grep -v drop <<<"$counters" | grep -o 'packets [0-9]*' | awk '{s += $2} END {print s + 0}')
LOSS_DROPPED=$(grep drop <<<"$counters" | grep -o 'packets [0-9]*' | awk '{s += $2} END {print s + 0}')
[ "$LOSS_DROPPED" -gt 0 ] || fail "the loss rules dropped nothing (of $LOSS_SEEN datagrams): the loss phase tested nothing"
LOSS_PCT=$(awk -v d="$LOSS_DROPPED" -v s="$LOSS_SEEN" 'BEGIN {printf "%.1f", 100 * d / s}')
ip netns exec "$NS-br" nft delete table netdev rnt_loss
SUSPICIONS=$(for i in "${ALIVE_HOSTS[@]}"; do metric "$i" rumor_suspicions_raised_total; done | awk '{s += $1} END {print s + 0}')
[ "$failed_seen" = 0 ] || fail "false failures under 10 % loss ($failed_seen member-views over $polls polls):"$'\n'"$FALSE"
say "loss: $LOSS_DROPPED of $LOSS_SEEN datagrams dropped ($LOSS_PCT %); $polls polls of $N views:" \
  "0 failed, $suspect_seen suspect member-views; $SUSPICIONS suspicions raised in total"
wait_for "all alive after the loss" 30 expect_states "$ALL_NAMES" alive

# ---- 3. partition into two halves, then heal ------------------------------------------------
H=$(( N / 2 ))
A_NAMES=$(hosts 1 "$H"); B_NAMES=$(hosts $(( H + 1 )) "$N")
say "partition: h1..h$H | h$(( H + 1 ))..h$N"
{
  echo "table netdev rnt_part {"
  for i in $(seq 1 "$N"); do
    if [ "$i" -le "$H" ]; then other="$NET.$(( H + 1 ))-$NET.$N"; else other="$NET.1-$NET.$H"; fi
    echo "  chain h$i { type filter hook ingress device \"bp$i\" priority 0; policy accept;"
    echo "    meta protocol ip ip daddr $other counter drop; }"
  done
  echo "}"
} | ip netns exec "$NS-br" nft -f -
t0=$(now_ms)
side_sees_other_failed() {
  ALIVE_HOSTS=($(seq 1 "$H")); expect_states "$B_NAMES" failed || { ALIVE_HOSTS=($(seq 1 "$N")); return 1; }
  ALIVE_HOSTS=($(seq $(( H + 1 )) "$N")); expect_states "$A_NAMES" failed || { ALIVE_HOSTS=($(seq 1 "$N")); return 1; }
  ALIVE_HOSTS=($(seq 1 "$N"))
}
wait_for "each half to see the other failed" 90 side_sees_other_failed
PART_DETECT=$(( $(now_ms) - t0 ))
say "partition detected by every host in $(secs $PART_DETECT)"
ip netns exec "$NS-br" nft delete table netdev rnt_part
t0=$(now_ms)
wait_for "the healed cluster to converge" 120 expect_states "$ALL_NAMES" alive
HEAL=$(( $(now_ms) - t0 ))
say "healed: one converged view after $(secs $HEAL)"

# ---- 4. crash and graceful leave ------------------------------------------------------------
K=$(( N - 2 )); L=$(( N - 1 ))
say "SIGKILL h$K"
{ kill -9 "${PID[$K]}"; wait "${PID[$K]}"; } 2>/dev/null || true
t0=$(now_ms)
ALIVE_HOSTS=($(seq 1 $(( K - 1 ))) $(seq $(( K + 1 )) "$N"))
wait_for "every host to report h$K failed" 60 expect_states "h$K" failed
DETECT=$(( $(now_ms) - t0 ))
say "h$K reported failed by all $(( N - 1 )) others after $(secs $DETECT)"
say "SIGTERM h$L"
kill -TERM "${PID[$L]}"
t0=$(now_ms)
for _ in $(seq 1 150); do kill -0 "${PID[$L]}" 2>/dev/null || break; sleep 0.1; done
kill -0 "${PID[$L]}" 2>/dev/null && fail "h$L still running 15 s after SIGTERM"
rc=0; wait "${PID[$L]}" || rc=$?
[ "$rc" = 0 ] || fail "h$L exited $rc after SIGTERM, want 0"
ALIVE_HOSTS=($(seq 1 $(( K - 1 ))) "$N")
wait_for "every host to report h$L left" 30 expect_states "h$L" left
LEAVE=$(( $(now_ms) - t0 ))
say "h$L exited 0 and is reported left by all after $(secs $LEAVE)"

# ---- 5. mDNS discovery ----------------------------------------------------------------------
MDNS="not run"
if "$BIN" agent --help 2>/dev/null | grep -q -- '--mdns'; then
  say "mDNS: $MDNS_HOSTS agents with --mdns and no --join"
  for i in $(seq 1 "$MDNS_HOSTS"); do
    ip netns exec "$NS-h$i" env RUST_LOG=info NO_COLOR=1 "$BIN" agent --name "m$i" --preset lan --label mdns-test --mdns \
      --bind "$NET.$i:$MDNS_PORT" --http "$NET.$i:$(( MDNS_PORT + 1 ))" --admin off >>"$LOGS/m$i.log" 2>&1 9>&- &
  done
  t0=$(now_ms)
  mdns_found() {
    local i v n
    for i in $(seq 1 "$MDNS_HOSTS"); do
      v=$(view "$i" $(( MDNS_PORT + 1 )))
      for n in $(seq 1 "$MDNS_HOSTS"); do
        grep -qx "m$n alive" <<<"$v" || { WHY="m$i does not see m$n alive: $(tr '\n' ' ' <<<"$v")"; return 1; }
      done
      [ "$(wc -l <<<"$v")" = "$MDNS_HOSTS" ] || { WHY="m$i sees more than the mDNS agents: $(tr '\n' ' ' <<<"$v")"; return 1; }
    done
  }
  wait_for "the mDNS agents to find each other" 60 mdns_found
  MDNS="$MDNS_HOSTS agents found each other in $(secs $(( $(now_ms) - t0 )))"
  say "mDNS: $MDNS"
else
  echo "SKIPPED: netns mDNS — this rumor has no --mdns flag"
fi

# ---- summary --------------------------------------------------------------------------------
row() { printf '  %-58s %s\n' "$1" "$2"; }
echo
echo "netns summary: $N hosts, one namespace each on a bridge ($NET.0/24), rumor agent --preset lan"
echo "  (times: until every host's /v1/members showed it; all hosts are polled at once, about once a second)"
row "convergence (all see all alive, from the first start)" "$(secs $CONVERGE)"
row "10 % loss for $LOSS_SECS s ($LOSS_DROPPED of $LOSS_SEEN datagrams, $LOSS_PCT %)" \
  "0 false failures ($suspect_seen suspect member-views in $polls polls, $SUSPICIONS suspicions raised)"
row "partition h1..h$H | h$(( H + 1 ))..h$N detected by every host" "$(secs $PART_DETECT)"
row "heal: one converged view after the drop rules went" "$(secs $HEAL)"
row "SIGKILL h$K -> failed at all $(( N - 1 )) others" "$(secs $DETECT)"
row "SIGTERM h$L -> exit 0, left at all others" "$(secs $LEAVE)"
row "mDNS (--mdns, no --join)" "$MDNS"
echo "netns: 1 passed, 0 failed"
