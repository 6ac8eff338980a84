#!/usr/bin/env bash
# The Docker engine: installed from Debian (docker.io) where missing and
# started by hand where no init system runs it. Usage: docker.sh start|restart|status
# (restart: what a reboot does to the environments; the tests use it)
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
restart)
  if [ -d /run/systemd/system ]; then
    systemctl restart docker
  else
    pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      ops_log "stopping dockerd ($pid)"
      kill -TERM "$pid"
      for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && ops_die "dockerd ($pid) did not stop within 60 s"
    fi
    "$0" start
  fi
  ;;
status) docker info --format '{{.ServerVersion}} {{.Driver}}' ;;
*) ops_die "usage: docker.sh start|restart|status" ;;
esac
