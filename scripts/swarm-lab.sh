#!/usr/bin/env bash
# A lab of Docker engines on this one machine, for the swarm backend's
# tests and for trying several nodes without several machines:
#
#   swarm-lab.sh up [N]   N engines (default 1), each in a network namespace
#                         of its own (ipai-swI, address 10.251.0.(I+1)),
#                         joined through a hub namespace (ipai-sw0) by veth
#                         links; engine I listens on $OPS_SWARM_LAB/dI.sock.
#                         With OPS_SWARM_LAB_OWN_DISK=PATH, engines 2..N have
#                         a disk of their own there: each runs in a mount
#                         namespace where PATH is its own directory
#                         ($OPS_HOME/swarm-lab/diskI), as on another machine
#   swarm-lab.sh kill I   engine I killed at once (a node lost; what it runs keeps running)
#   swarm-lab.sh start I  engine I started again
#   swarm-lab.sh down     everything `up` made, and only that
#   swarm-lab.sh status   the engines that answer
#
# The engines start empty: making them a swarm (init, join) is the swarm
# backend's job (services/swarm_engine.py), as it is on real machines.
# Requires root. Nothing here touches the root network namespace, the
# machine's Docker engine or its firewall (the root namespace drops bridged
# frames: its FORWARD policy is Docker's DROP, so the hub has a namespace
# of its own). Why not `ip netns exec`: it remounts /sys without the cgroup
# hierarchy and dockerd refuses to start ("Devices cgroup isn't mounted");
# nsenter --net keeps the mounts.
set -euo pipefail
source "$(dirname "$0")/env.sh"
LAB="${OPS_SWARM_LAB:-/run/ipai-ops-swarm-lab}"
DATA="$OPS_HOME/swarm-lab"
HUB=ipai-sw0

engine_up() { docker -H "unix://$LAB/d$1.sock" info >/dev/null 2>&1; }

start_engine() {
  local i="$1" own="" ns=(unshare --uts) disk=- target=-
  mkdir -p "$DATA/d$i"
  [ -f "$DATA/d$i.json" ] || echo '{}' >"$DATA/d$i.json"
  [ -f "$LAB/own-disk" ] && own="$(cat "$LAB/own-disk")"
  if [ -n "$own" ] && [ "$i" -gt 1 ]; then
    # a disk of its own: the platform's data directory is another directory
    # in its mount namespace (and so in its containers')
    mkdir -p "$DATA/disk$i" "$own"
    ns=(unshare --uts --mount --propagation private)
    disk="$DATA/disk$i" target="$own"
  fi
  # its own hostname (the swarm's node name), its own roots, no default bridge
  nsenter --net="/run/netns/ipai-sw$i" "${ns[@]}" sh -c \
    'if [ "$1" != - ]; then mount --bind "$1" "$2" || exit 1; fi; hostname "$0"; shift 2; exec setsid dockerd "$@"' \
    "ipai-sw$i" "$disk" "$target" \
    --config-file "$DATA/d$i.json" --data-root "$DATA/d$i" --exec-root "$LAB/x$i" \
    --pidfile "$LAB/d$i.pid" -H "unix://$LAB/d$i.sock" --bridge none --cgroup-parent "/ipai-sw$i" \
    >>"$DATA/d$i.log" 2>&1 </dev/null &
}

wait_engine() {
  local i="$1"
  for _ in $(seq 1 120); do engine_up "$i" && return 0; sleep 0.5; done
  tail -n 20 "$DATA/d$i.log" >&2
  ops_die "engine $i of the swarm lab did not start"
}

# A node lost: its engine killed at once (what a crash or a power cut does
# to the daemon; its containers keep running, as they would), then back.
kill_engine() {
  local i="$1" pid
  pid="$(cat "$LAB/d$i.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || ops_die "engine $i of the swarm lab is not running"
  kill -KILL "$pid"
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  rm -f "$LAB/d$i.pid"
}

down() {
  local i pid
  for sock in "$LAB"/d*.sock; do
    [ -e "$sock" ] || continue
    i="${sock##*/d}"; i="${i%.sock}"
    pid="$(cat "$LAB/d$i.pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $(cat "$LAB"/d*.pid 2>/dev/null); do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  done
  for ns in $(ip netns list | awk '/^ipai-sw[0-9]+/{print $1}'); do
    # what is left in the namespace (containerd shims, containers) and in the engines' cgroups
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  for cg in /sys/fs/cgroup/*/ipai-sw[0-9]*; do
    [ -d "$cg" ] || continue
    find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  sleep 0.5
  grep -E " ($DATA|$LAB)/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  for cg in /sys/fs/cgroup/*/ipai-sw[0-9]*; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  for ns in $(ip netns list | awk '/^ipai-sw[0-9]+/{print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$LAB" "$DATA"
}

up() {
  local n="${1:-1}" i ns
  [ "$(id -u)" = 0 ] || ops_die "the swarm lab needs root (network namespaces, dockerd)"
  [[ "$n" =~ ^[1-9]$ ]] || ops_die "swarm-lab.sh up N: N is 1 to 9, not '$n'"
  command -v dockerd >/dev/null || "$OPS_REPO/scripts/docker.sh" start
  down
  mkdir -p "$LAB" "$DATA"
  if [ -n "${OPS_SWARM_LAB_OWN_DISK:-}" ]; then
    [[ "$OPS_SWARM_LAB_OWN_DISK" = /* ]] || ops_die "OPS_SWARM_LAB_OWN_DISK is an absolute path"
    printf '%s\n' "$OPS_SWARM_LAB_OWN_DISK" >"$LAB/own-disk"
  fi
  ip netns add "$HUB"
  ip -n "$HUB" link set lo up
  ip -n "$HUB" link add ipswbr0 type bridge
  ip -n "$HUB" addr add 10.251.0.1/24 dev ipswbr0
  ip -n "$HUB" link set ipswbr0 up
  for i in $(seq 1 "$n"); do
    ns="ipai-sw$i"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "ipsw$i-h" type veth peer name "ipsw$i-n"
    ip link set "ipsw$i-h" netns "$HUB"
    ip link set "ipsw$i-n" netns "$ns"
    ip -n "$HUB" link set "ipsw$i-h" master ipswbr0 up
    ip -n "$ns" link set "ipsw$i-n" name eth0
    ip -n "$ns" addr add "10.251.0.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
    start_engine "$i"
  done
  for i in $(seq 1 "$n"); do
    wait_engine "$i"
    echo "unix://$LAB/d$i.sock 10.251.0.$((i + 1))"
  done
}

case "${1:-status}" in
up) up "${2:-1}" ;;
down) down ;;
kill) [[ "${2:-}" =~ ^[1-9]$ ]] || ops_die "swarm-lab.sh kill I"; kill_engine "$2" ;;
start) [[ "${2:-}" =~ ^[1-9]$ ]] || ops_die "swarm-lab.sh start I"
  engine_up "$2" || { start_engine "$2"; wait_engine "$2"; } ;;
status)
  for sock in "$LAB"/d*.sock; do
    [ -e "$sock" ] || continue
    i="${sock##*/d}"; i="${i%.sock}"
    if engine_up "$i"; then echo "unix://$sock 10.251.0.$((i + 1)) up"; else echo "unix://$sock down"; fi
  done
  ;;
*) ops_die "usage: swarm-lab.sh up [N] | kill I | start I | down | status" ;;
esac
