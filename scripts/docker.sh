#!/usr/bin/env bash
# The Docker engine: installed from Debian (docker.io) where missing and
# started by hand where no init system runs it. Usage: docker.sh start|status
set -euo pipefail
source "$(dirname "$0")/env.sh"
case "${1:-start}" in
start)
  if ! command -v dockerd >/dev/null; then
    [ "$(id -u)" = 0 ] || ops_die "dockerd is missing; install docker.io as root"
    ops_log "installing the Docker engine (docker.io) and debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
           docker.io debootstrap >/dev/null; }
  fi
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  if ! docker info >/dev/null 2>&1; then
    ops_log "starting dockerd (log: $OPS_HOME/dockerd.log)"
    mkdir -p "$OPS_HOME"
    nohup dockerd >"$OPS_HOME/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { tail -n 20 "$OPS_HOME/dockerd.log" >&2; ops_die "dockerd did not start"; }
  fi
  ;;
status) docker info --format '{{.ServerVersion}} {{.Driver}}' ;;
*) ops_die "usage: docker.sh start|status" ;;
esac
