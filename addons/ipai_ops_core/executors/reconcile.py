"""What Docker and PostgreSQL say about an environment, against what its
record says, and the repair when there is one (the reconciliation cron).

Plain values in and out: ``env`` is ``{'id', 'stage', 'state',
'container_id', 'database_name'}``; :func:`reconcile` returns ``None`` when
the record tells the truth, else ``{'values': {...} to write on the record,
'message': what was found and done}``.

- Running, container running or restarting (its restart policy at work):
  right, unless its database is gone (failed).
- Running, container stopped: production and staging are started again
  (the restart policy does not restart a container stopped by hand or left
  exited by a daemon that came back without it), unless it exits as soon as
  it starts (failed, with the exit code); development is marked stopped
  (its team starts it when they need it).
- Running or stopped, container gone: failed (a deploy or rebuild makes a
  new one).
- Stopped, container running (started outside the platform): running.
- Running or stopped on a swarm host, its node lost (the manager says it is
  down): failed, said so, and ``node_lost``; Swarm does not move the unit
  (it is pinned to the node that has its filestore). Back, and its unit
  running again: running.
"""

from datetime import datetime

from ..services import postgres, runtime

ALIVE = ("running", "restarting")
# A container that stops this soon after it started crashes at start: starting
# it again every minute would only hide that.
CRASH_SECONDS = 60


def _seconds_up(container):
    """How long the container ran before it stopped, or None when unknown."""
    try:
        started, finished = (datetime.fromisoformat(container[key][:26].rstrip("Z") + "+00:00")
                             for key in ("started_at", "finished_at"))
    except (KeyError, TypeError, ValueError):
        return None
    if started.year < 2000 or finished.year < 2000:
        return None
    return (finished - started).total_seconds()


def _why_stopped(container):
    why = "exit code %s" % container.get("exit_code")
    if container.get("oom_killed"):
        why += ", killed for lack of memory (the container's limit)"
    return why


def _node_finding(lost, container):
    """A swarm unit whose node was lost (``lost``: the record says so) or is
    lost now (the manager's word)."""
    if lost:
        if container and container["status"] == "running":
            return {"values": {"state": "running", "node_lost": False},
                    "message": "Its node %s answers again and its unit runs: marked running." % container["node"]}
        return None
    return {"values": {"state": "failed", "node_lost": True},
            "message": "Its swarm node %s does not answer (%s): nobody can say whether its unit still runs, and "
                       "Swarm does not move it (it is pinned to that node). Marked running again once the node is "
                       "back; to serve it elsewhere now, restore its latest backup (a restore starts it on a node "
                       "that answers)." % (container["node"], container["node_state"])}


def reconcile(env, engine, db_admin):
    """Compare one environment with its container and database; start a
    production or staging container that stopped. See the module's doc."""
    state, ref = env["state"], env.get("container_id")
    lost = state == "failed" and env.get("node_lost")
    if (state not in ("running", "stopped") and not lost) or not ref:
        return None
    container = engine.container(ref)
    if lost or (container and container["status"] == "lost"):
        return _node_finding(lost, container)
    if container is None:
        return {"values": {"state": "failed"},
                "message": "Its container %s is gone (removed outside the platform): deploy or rebuild the "
                           "environment to make a new one." % ref[:12]}
    alive = container["status"] in ALIVE
    if state == "stopped":
        if alive:
            return {"values": {"state": "running"},
                    "message": "Its container runs again (started outside the platform): marked running."}
        return None
    if env.get("database_name") and not postgres.database_exists(db_admin, env["database_name"]):
        return {"values": {"state": "failed"},
                "message": "Its database %s is missing: restore a backup or rebuild the environment."
                           % env["database_name"]}
    if alive or container["status"] == "paused":
        return None
    why = _why_stopped(container)
    if env["stage"] == "development":
        return {"values": {"state": "stopped"},
                "message": "Its container had stopped (%s): marked stopped; start it again when needed." % why}
    up = _seconds_up(container)
    if container.get("exit_code") not in (0, None) and up is not None and up < CRASH_SECONDS \
            and not container.get("oom_killed"):
        return {"values": {"state": "failed"},
                "message": "Its container stops %.0f s after it starts (%s): not started again; see its log."
                           % (up, why)}
    try:
        engine.start_existing(container["id"])
    except runtime.RuntimeFailure as exc:
        return {"values": {"state": "failed"}, "message": "Its container had stopped (%s) and does not start: %s"
                                                          % (why, exc)}
    return {"values": {}, "message": "Its container had stopped (%s): started it again." % why}
