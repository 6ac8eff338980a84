"""A production on a swarm host, through the whole platform: an Ops
manager records the lab's manager as a Docker host of runtime "swarm"
(tests/swarm_lab.py: engines of their own, never this machine's), a worker
of that host deploys the project (its image built on the swarm's manager,
its modules installed through the environment's door), the platform's
nginx serves it by its hostname through the gateway's socket, a code-only
redeploy fails none of a visitor's requests every 50 ms, and destroying it
leaves nothing on the swarm, in pg_hba.conf or on the host."""

import os
import time

import pytest
import requests
import swarm_lab as lab
from e2e import (
    Poller,
    admin_conn,
    answers_within,
    env_secret,
    logs_of,
    make_addon_repo,
    namespace,
    remove_leftovers,
    run_worker,
    serves,
    shell,
)
from odoo.addons.ipai_ops_core.services import runtime, swarm_gateway

SLUG = "sw-e2e"
HOST = "lab"
FIELDS = ["url", "database_name", "container_id", "upstream_socket", "host", "state", "hostname", "container_ip"]


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


@pytest.fixture(name="swarm_prod", scope="module")
def swarm_prod_fixture(server, swarm_lab, tmp_path_factory):
    lab.runtime_image(swarm_lab)  # the project's runtime image on the manager (no registry: copied)
    manager = server.rpc("e2e_manager")
    host = manager("ops.host", "create", {"name": HOST, "docker_url": swarm_lab["engines"][0][0],
                                          "runtime_kind": "swarm"})
    remove_leftovers(SLUG)
    repo = make_addon_repo(tmp_path_factory.mktemp("swgit"), branches=("feature/dev",), red_branch=None)
    project_id = manager("ops.project", "create", {"name": "Swarm E2E", "slug": SLUG, "repo_url": repo,
                                                   "mem_limit_mb": 1024, "cpu_limit": 1.0})
    env_id = manager("ops.environment", "create", {"project_id": project_id, "branch": "main"})
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "environment_id": env_id})
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-4000:])
    env = manager("ops.environment", "read", [env_id], FIELDS)[0]
    env.update(id=env_id, project_id=project_id, logs=logs, engine=swarm_lab["manager"],
               password=env_secret(server, env_id, "admin_password"))
    try:
        yield env
    finally:
        swarm_gateway.HostRelay(doors_root(server)).stop()
        manager("ops.host", "write", [host], {"active": False})


def test_a_production_on_a_swarm_host_serves_through_the_front_door(server, swarm_prod):
    env, engine = swarm_prod, swarm_prod["engine"]
    assert env["host"] == HOST and env["state"] == "running" and not env["container_ip"], env
    assert "Healthy: unit" in env["logs"] and "The gateway leads" in env["logs"], env["logs"][-3000:]
    unit = engine.container(env["container_id"])
    assert unit and unit["status"] == "running" and unit["node"], unit
    # its configuration file (its credentials) is a Swarm secret, the odoo user's, 0400; of the platform's
    # host only its data directory is mounted; no password in its environment
    spec = engine.client.services.get(env["container_id"]).attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert [(f["File"]["Name"], f["File"]["UID"], f["File"]["Mode"]) for f in spec["Secrets"]] == [
        ("/etc/odoo/odoo.conf", "101", 0o400)], spec["Secrets"]
    assert [m["Target"] for m in spec["Mounts"]] == ["/var/lib/odoo"], spec["Mounts"]
    assert not any("password" in value.lower() for value in spec.get("Env") or []), spec.get("Env")
    # nginx's workers reach its HTTP socket; the database's socket is root's
    sockets = os.path.dirname(env["upstream_socket"])
    assert os.stat(env["upstream_socket"]).st_mode & 0o777 == 0o666
    assert os.stat(os.path.join(sockets, "db.sock")).st_mode & 0o777 == 0o600
    assert env["upstream_socket"] == os.path.join(doors_root(server), "e%d" % env["id"], "http.sock"), env
    answer = requests.get(env["url"] + "/web/login", timeout=30)
    assert answer.status_code == 200 and "oe_login_form" in answer.text, answer.status_code
    assert serves(env["url"], env["database_name"]), "the unit opens its own database"
    # its data came in through the door as its own role, from its own loopback address
    conn = admin_conn(env["database_name"])
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT count(*) FROM res_partner WHERE name = 'Built by ipai ops'")
            assert cr.fetchone()[0] == 1, "the project's addon is installed"
    finally:
        conn.close()
    # pg_hba.conf admits its role from its own loopback address only (the host relay connects from there)
    assert hba_sources(server, env["id"]) == [(swarm_gateway.source_address(env["id"]), "255.255.255.255")]
    with open(env["upstream_socket"].rsplit("/", 2)[0] + "/host-routes.json") as fh:
        assert '"source": "%s"' % swarm_gateway.source_address(env["id"]) in fh.read()


def test_a_code_only_redeploy_on_swarm_fails_no_request(server, swarm_prod):
    manager = server.rpc("e2e_manager")
    before = swarm_prod["container_id"]
    with Poller(swarm_prod["url"]) as visitor:
        queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy",
                                                   "environment_id": swarm_prod["id"]})
        run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    assert "No module to update" in logs and "The gateway leads" in logs, logs[-3000:]
    assert len(visitor.answers) > 20 and visitor.failures() == [], visitor.failures()[:5]
    after = manager("ops.environment", "read", [swarm_prod["id"]], FIELDS)[0]
    assert after["container_id"] != before and swarm_prod["engine"].container(before) is None, "the old unit went"
    assert after["upstream_socket"] == swarm_prod["upstream_socket"], "nginx's upstream stays the same"
    swarm_prod.update(after)


def test_the_crons_keep_it_serving(server, swarm_prod):
    """The garbage collector leaves its unit and the gateway alone. The host
    relay gone (a reboot, a crash): production loses its database and says
    so; the network reconciliation (its cron) starts the relay again and
    production answers again."""
    out = shell(server, "print(env['ops.environment']._cron_collect_garbage())\nenv.cr.commit()\n")
    assert swarm_prod["engine"].container(swarm_prod["container_id"])["status"] == "running", out[-2000:]
    gateway = swarm_prod["engine"].container(swarm_gateway.container_name(namespace(server)))
    assert gateway and gateway["status"] == "running", out[-2000:]
    answers_within(swarm_prod["url"], 30)
    swarm_gateway.HostRelay(doors_root(server)).stop()
    deadline = time.monotonic() + 30
    while serves(swarm_prod["url"], swarm_prod["database_name"]):
        assert time.monotonic() < deadline, "production still opened its database without the host relay"
        time.sleep(0.5)
    out = shell(server, "print(env['ops.environment']._ops_reconcile_network())\n")
    assert "swarm %s: host relay running" % HOST in out, out[-2000:]
    answers_within(swarm_prod["url"], 60)
    assert serves(swarm_prod["url"], swarm_prod["database_name"])


def test_a_development_build_on_a_swarm_host_is_refused_with_its_reason(server, swarm_prod):
    """Development and staging are not served on a swarm host yet: the run
    says so and leaves nothing (no network, no unit)."""
    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "feature/dev"})
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "failed", run
    assert "Development and staging environments do not run on swarm hosts yet" in run["error_message"], run
    engine = swarm_prod["engine"]
    env_id = run["environment_id"]
    assert not engine.containers(runtime.labels_for(namespace(server), environment=env_id))
    assert not engine.network_names(runtime.labels_for(namespace(server), environment=env_id))


def test_destroying_it_leaves_nothing_on_the_swarm(server, swarm_prod):
    manager = server.rpc("e2e_manager")
    engine = swarm_prod["engine"]
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "destroy", "environment_id": swarm_prod["id"]})
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    mine = runtime.labels_for(namespace(server), environment=swarm_prod["id"])
    assert engine.containers(mine) == [], "no unit or container of it"
    assert not engine.network_names(mine), "no network of it"
    assert not [s for s in engine.client.secrets.list() if s.attrs["Spec"]["Labels"].get(
        "ipai-ops.environment") == str(swarm_prod["id"])], "no secret of it"
    sockets = os.path.dirname(swarm_prod["upstream_socket"])
    assert not [name for name in os.listdir(sockets) if name.endswith(".sock")], os.listdir(sockets)
    assert hba_sources(server, swarm_prod["id"]) == [], "its pg_hba line went"

