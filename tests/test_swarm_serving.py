"""A production on a swarm host, through the whole platform
(tests/swarm_prod.py): the platform's nginx serves it by its hostname
through the gateway's socket, its metrics and a shell come from its unit,
Connect logs its project admin in, a code-only redeploy, a rollback and a
restore fail none of a visitor's requests every 50 ms, the crons keep it
serving, and an Ops manager sees how a machine joins the swarm."""

import os
import subprocess
import time
import xmlrpc.client

import pytest
import requests
from e2e import (
    Poller,
    admin_conn,
    answers_within,
    namespace,
    run_monitor,
    run_worker,
    serves,
    shell,
    sql,
)
from odoo.addons.ipai_ops_core.services import swarm_gateway
from swarm_prod import FIELDS, HOST, SLUG, doors_root, hba_sources, run_on_swarm

# run inside the unit, as its own code would: what of its node it opens (the node's address on its
# docker_gwbridge is its default route)
NODE_PROBE = """
import socket, struct, sys
routes = [line.split() for line in open("/proc/net/route")]
gateway = [socket.inet_ntoa(struct.pack("<L", int(f[2], 16))) for f in routes if f[1] == "00000000"][0]
found = []
for host, port in [(sys.argv[1], 2377), (sys.argv[1], 7946), (gateway, 7946), (gateway, 8069)]:
    conn = socket.socket()
    conn.settimeout(3)
    found.append("%s:%d %s" % (host, port, "open" if conn.connect_ex((host, port)) == 0 else "closed"))
print(", ".join(found))
"""


def test_a_production_on_a_swarm_host_serves_through_the_front_door(server, swarm_prod, swarm_lab):
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
    # its log is the platform's, as on a Docker host: the request just made is in it
    lines = server.rpc("e2e_manager")("ops.environment", "logs", [env["id"]], grep="/web/login")["lines"]
    assert any("GET /web/login" in line["text"] for line in lines), lines[-5:]
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
    # from inside it, its code opens nothing of its node: not the swarm's ports at the node's address,
    # nothing at its bridge's gateway (the nodes' guard, services/swarm_guard.py)
    container = engine.client.containers.get(engine._exec_target(env["container_id"])[1])
    code, out = container.exec_run(["python3", "-c", NODE_PROBE, swarm_lab["engines"][0][1]])
    assert code == 0 and "open" not in out.decode(), out.decode()
    assert out.decode().count("closed") == 4, out.decode()


def test_its_metrics_and_a_shell_come_from_its_unit(server, swarm_prod, ops_bin):
    """The collector of the swarm host (`ops-monitor --host lab`) reads the
    unit's memory and CPU from its task's cgroup (this machine's kernel runs
    the lab's nodes), its database's size, and asks /web/health through the
    socket nginx reaches it by; `ops env shell` runs in the unit's task."""
    engine = swarm_prod["engine"]
    for _ in range(2):  # the second pass has the first's CPU counter to compare with
        assert run_monitor(server, HOST)["collected"] >= 1
        requests.get(swarm_prod["url"] + "/web/login", timeout=30)
    answer = server.rpc("e2e_admin")("ops.environment", "metrics", [swarm_prod["id"]], since="15m")
    rows = [dict(zip(answer["columns"], point, strict=True)) for point in answer["points"]]
    last = [row for row in rows if row["mem_bytes"]][-1]
    limit = engine.client.services.get(swarm_prod["container_id"]).attrs["Spec"]["TaskTemplate"]["Resources"][
        "Limits"]["MemoryBytes"]
    assert last["mem_limit_bytes"] == limit and 0 < last["mem_bytes"] < limit, last
    assert last["cpu_pct"] is not None and last["cpu_pct"] >= 0, last
    assert last["health_ms"] > 0 and last["db_bytes"] > 1_000_000, last
    fleet = server.rpc("e2e_admin")("ops.metric.state", "search_read", [("environment_id", "=", swarm_prod["id"])],
                                    ["health_ok", "mem_pct"])
    assert fleet and fleet[0]["health_ok"] and 0 < fleet[0]["mem_pct"] < 100, fleet

    task = engine.container(swarm_prod["container_id"])["task_container"]
    env = dict(os.environ, OPS_URL=server.url, OPS_DB=server.db, OPS_LOGIN="e2e_admin",
               OPS_API_KEY=server.keys["e2e_admin"])
    done = subprocess.run([ops_bin, "env", "shell", SLUG, "main"], input="echo $HOSTNAME; python3 -c 'print(6*7)'\n",
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done
    hostname = engine.client.containers.get(task).attrs["Config"]["Hostname"]
    assert done.stdout.split() == [hostname, "42"], done


def test_connect_logs_its_project_admin_in_once(server, swarm_prod):
    """Connect on a swarm production: the one-use link, through nginx and
    the gateway, lands its project admin in the backend of its database
    (the unit's Connect addon is a Swarm config); a second use fails."""
    link = server.rpc("e2e_admin")("ops.environment", "connect", [swarm_prod["id"]])
    assert link["url"].startswith(swarm_prod["url"] + "/ipai_ops/connect?token="), link
    session = requests.Session()
    answer = session.get(link["url"], timeout=60)
    assert answer.status_code == 200 and "/web/login" not in answer.url, (answer.url, answer.status_code)
    info = session.post(swarm_prod["url"] + "/web/session/get_session_info", json={
        "jsonrpc": "2.0", "method": "call", "id": 1, "params": {}}, timeout=30).json().get("result") or {}
    assert info.get("uid") == 2 and info.get("db") == swarm_prod["database_name"], info
    again = requests.get(link["url"], timeout=60)
    assert again.status_code == 403 and "not valid" in again.text, "a second use fails"


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


def test_a_rollback_on_swarm_fails_no_request(server, swarm_prod):
    manager = server.rpc("e2e_manager")
    before = manager("ops.environment", "read", [swarm_prod["id"]],
                     ["image_digest", "previous_image_digest", "database_name", "previous_database_name"])[0]
    queued = manager("ops.environment", "rollback", [swarm_prod["id"]])
    with Poller(swarm_prod["url"]) as visitor:
        run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    assert len(visitor.answers) > 10 and visitor.failures() == [], visitor.failures()[:5]
    after = manager("ops.environment", "read", [swarm_prod["id"]],
                    FIELDS + ["image_digest", "previous_image_digest"])[0]
    assert after["image_digest"] == before["previous_image_digest"], (before, after)
    assert after["database_name"] == before["previous_database_name"], (before, after)
    assert after["previous_image_digest"] == before["image_digest"], "the rollback can be undone"
    assert after["upstream_socket"] == swarm_prod["upstream_socket"] and serves(after["url"], after["database_name"])
    swarm_prod.update(after)


def test_a_backup_restored_on_swarm_fails_no_request(server, swarm_prod):
    """A backup of a swarm production (its database from the shared server,
    its filestore from the node's volume), restored in place: a new
    database, served by a new unit next to the old one, the socket switched
    once it answers; the drill restores it into a scratch database."""
    admin, manager = server.rpc("e2e_admin"), server.rpc("e2e_manager")
    db = swarm_prod["database_name"]
    sql(db, "INSERT INTO res_partner (name, active) VALUES ('Before the swarm backup', true)")
    backup = admin("ops.backup", "create_backup", {"project": SLUG})
    run_worker(server, projects=SLUG, host=HOST)
    fields = ["state", "error_message", "manifest", "verify_state", "verify_message"]
    done = manager("ops.backup", "read", [backup["id"]], fields)[0]
    assert done["state"] == "done", done["error_message"]
    assert done["manifest"]["filestore_files"] > 0, "the unit's filestore is in the backup"
    sql(db, "INSERT INTO res_partner (name, active) VALUES ('After the swarm backup', true)")
    queued = admin("ops.backup", "restore_backup", [backup["id"]])
    with Poller(swarm_prod["url"]) as visitor:
        run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    assert len(visitor.answers) > 10 and visitor.failures() == [], visitor.failures()[:5]
    after = manager("ops.environment", "read", [swarm_prod["id"]], FIELDS)[0]
    assert after["database_name"] != db and after["container_id"] != swarm_prod["container_id"], after
    assert serves(after["url"], after["database_name"])
    names = [name for (name,) in sql(after["database_name"], "SELECT name FROM res_partner WHERE name LIKE "
                                                              "'%% the swarm backup'")]
    assert names == ["Before the swarm backup"], names
    admin("ops.backup", "action_drill", [backup["id"]])
    run_worker(server, projects=SLUG, host=HOST)
    drilled = manager("ops.backup", "read", [backup["id"]], fields)[0]
    assert drilled["verify_state"] == "ok", drilled["verify_message"]
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


def test_an_ops_manager_sees_how_a_machine_joins_the_swarm_and_nobody_else(server, swarm_prod, swarm_lab):
    """"Add a node" on a swarm host: the command a new machine runs (the
    swarm's join token, the manager's address) and the swarm's nodes, read
    from the manager; for Ops managers only, the token never stored."""
    manager, host_id = server.rpc("e2e_manager"), swarm_prod["host_id"]
    info = manager("ops.host", "swarm_join", [host_id])
    command = info["command"]
    assert command[:4] == ["docker", "swarm", "join", "--token"] and command[4].startswith("SWMTKN-1-"), command
    assert command[4] == swarm_prod["engine"].join_token()[0], "the swarm's own worker token"
    assert command[5] == "%s:2377" % swarm_lab["engines"][0][1] == info["manager"], command
    nodes = {node["hostname"]: node for node in info["nodes"]}
    assert (nodes["ipai-sw1"]["role"], nodes["ipai-sw1"]["state"]) == ("manager", "ready"), nodes
    assert nodes["ipai-sw1"]["cpus"] >= 1 and nodes["ipai-sw1"]["memory_mb"] > 256, nodes
    action = manager("ops.host", "action_swarm_join", [host_id])
    shown = manager("ops.host.join", "read", [action["res_id"]], ["command", "nodes"])[0]
    assert shown["command"] == " ".join(command) and "ipai-sw1: manager, ready" in shown["nodes"], shown
    columns = {name for (name,) in sql(server.db, "SELECT column_name FROM information_schema.columns "
                                                 "WHERE table_name = 'ops_host_join'")}
    assert "host_id" in columns and "command" not in columns, "the token is read from the manager, never stored"
    for login in ("e2e_worker", "e2e_admin", "e2e_dev"):
        with pytest.raises(xmlrpc.client.Fault, match="Only Ops managers|not allowed|AccessError"):
            server.rpc(login)("ops.host", "swarm_join", [host_id])
    local = manager("ops.host", "search", [("name", "=", "local")])
    assert local, "the platform's own host"
    with pytest.raises(xmlrpc.client.Fault, match="not a swarm manager"):
        manager("ops.host", "swarm_join", local)
