"""The swarm host's production the swarm tests share (one for the
session, as tests/swarm_lab.py's lab): an Ops manager records the lab's
manager as a Docker host of runtime "swarm" (engines of their own, never
this machine's), and a worker of that host deploys the project (its image
built on the swarm's manager, its modules installed through the
environment's door). The tests run in the order of their files:
test_swarm_serving.py, test_swarm_serving_nodes.py, then
test_swarm_serving_runs_there.py, which destroys it."""

import os
import time

import pytest
import swarm_lab as lab
from e2e import admin_conn, env_secret, logs_of, make_addon_repo, namespace, remove_leftovers, run_worker, shell

SLUG = "sw-e2e"
HOST = "lab"
FIELDS = ["url", "database_name", "container_id", "upstream_socket", "host", "state", "hostname", "container_ip",
          "network_subnet"]


def run_on_swarm(server, manager, queued):
    """One pass of the swarm host's worker (`ops-worker --host lab`); the run as it ended, and its log."""
    run_worker(server, projects=SLUG, host=HOST)
    return manager("ops.run", "api_read", [queued["id"]]), logs_of(manager, queued["id"])


def hba_sources(server, env_id):
    """The addresses pg_hba.conf admits environment ``env_id``'s role from (the swarm's: loopback ones)."""
    conn = admin_conn("postgres")
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT address, netmask FROM pg_hba_file_rules WHERE %s = ANY(user_name) "
                       "AND address LIKE '127.%%'", ["ops_%s_e%d" % (namespace(server), env_id)])
            return cr.fetchall()
    finally:
        conn.close()


def doors_root(server):
    """Where the platform keeps the gateway's sockets: beside its nginx's files."""
    return os.path.join(os.path.dirname(server.proxy_root), "doors", namespace(server))


def reconcile_until(server, env_id, state, seconds):
    """The reconciliation cron's passes, until environment ``env_id`` is ``state``; how long it took."""
    manager, started = server.rpc("e2e_manager"), time.monotonic()
    while True:
        shell(server, "env['ops.environment']._cron_reconcile()\nenv.cr.commit()\n")
        if manager("ops.environment", "read", [env_id], ["state"])[0]["state"] == state:
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, "not %s after %d s" % (state, seconds)
        time.sleep(3)


@pytest.fixture(name="swarm_prod", scope="session")
def swarm_prod_fixture(server, swarm_lab, tmp_path_factory):
    """The production (its environment's values, its engine: the lab's manager), for the session."""
    from odoo.addons.ipai_ops_core.services import swarm_gateway  # noqa: PLC0415 - Odoo's addons load with pytest-odoo

    lab.runtime_image(swarm_lab)  # the project's runtime image on the manager (no registry: copied)
    manager = server.rpc("e2e_manager")
    host = manager("ops.host", "create", {"name": HOST, "docker_url": swarm_lab["engines"][0][0],
                                          "runtime_kind": "swarm"})
    remove_leftovers(SLUG)
    repo = make_addon_repo(tmp_path_factory.mktemp("swgit"), branches=("feature/dev", "release/next"), red_branch=None)
    project_id = manager("ops.project", "create", {"name": "Swarm E2E", "slug": SLUG, "repo_url": repo,
                                                   "mem_limit_mb": 1024, "cpu_limit": 1.0})
    env_id = manager("ops.environment", "create", {"project_id": project_id, "branch": "main"})
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "environment_id": env_id})
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-4000:])
    env = manager("ops.environment", "read", [env_id], FIELDS)[0]
    env.update(id=env_id, project_id=project_id, logs=logs, engine=swarm_lab["manager"], host_id=host,
               password=env_secret(server, env_id, "admin_password"))
    member = manager("ops.project.member", "create", {"project_id": project_id, "user_id": server.uids["e2e_admin"],
                                                      "role": "admin"})
    try:
        yield env
    finally:
        manager("ops.project.member", "unlink", [member])
        swarm_gateway.HostRelay(doors_root(server)).stop()
        manager("ops.host", "write", [host], {"active": False})
