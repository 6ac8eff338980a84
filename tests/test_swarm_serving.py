"""A production on a swarm host, through the whole platform: an Ops
manager records the lab's manager as a Docker host of runtime "swarm"
(tests/swarm_lab.py: engines of their own, never this machine's), a worker
of that host deploys the project (its image built on the swarm's manager,
its modules installed through the environment's door), the platform's
nginx serves it by its hostname through the gateway's socket, a code-only
redeploy fails none of a visitor's requests every 50 ms, and destroying it
leaves nothing on the swarm, in pg_hba.conf or on the host."""

import os
import subprocess
import time
import xmlrpc.client

import pytest
import requests
import swarm_lab as lab
from e2e import (
    ADDON,
    Poller,
    admin_conn,
    answers_within,
    env_secret,
    filestore_root,
    logs_of,
    make_addon_repo,
    namespace,
    remove_leftovers,
    run_monitor,
    run_worker,
    serves,
    shell,
    sql,
)
from odoo.addons.ipai_ops_core.executors.paths import ODOO_UID
from odoo.addons.ipai_ops_core.services import runtime, swarm_gateway
from probes import net_probe

SLUG = "sw-e2e"
HOST = "lab"
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
# run inside a unit: a mail to HOST:PORT with the login of its configuration file
SEND_MAIL = """
import configparser, smtplib, sys
from email.message import EmailMessage
conf = configparser.ConfigParser()
conf.read("/etc/odoo/odoo.conf")
own = conf["options"]
message = EmailMessage()
message["From"], message["To"], message["Subject"] = "staging@example.com", "anna@customer.example", sys.argv[3]
message.set_content("Hello")
with smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=10) as client:
    client.login(own["smtp_user"], own["smtp_password"])
    client.send_message(message)
print("SENT")
"""
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


@pytest.fixture(name="swarm_prod", scope="module")
def swarm_prod_fixture(server, swarm_lab, tmp_path_factory):
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


def reconcile_until(server, env_id, state, seconds):
    """The reconciliation cron's passes, until environment ``env_id`` is ``state``; how long it took."""
    manager, started = server.rpc("e2e_manager"), time.monotonic()
    while True:
        shell(server, "env['ops.environment']._cron_reconcile()\nenv.cr.commit()\n")
        if manager("ops.environment", "read", [env_id], ["state"])[0]["state"] == state:
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, "not %s after %d s" % (state, seconds)
        time.sleep(3)


def _env_shell(server, ops_bin, commands):
    """``ops env shell`` on the swarm production as its project admin, ``commands`` on its standard input."""
    env = dict(os.environ, OPS_URL=server.url, OPS_DB=server.db, OPS_LOGIN="e2e_admin",
               OPS_API_KEY=server.keys["e2e_admin"])
    return subprocess.run([ops_bin, "env", "shell", SLUG, "main"], input=commands, capture_output=True,
                          text=True, timeout=120, env=env)


def _backup_restore_and_deploy_on_its_own_disk(server, env, on_w1):
    """Production on the worker's own disk: a backup has the files of that
    disk (one only there), a restore in place puts its filestore back there
    (nothing of it left on the platform's disk) and serves; a deploy, which
    updates a module, runs Odoo's update on that node."""
    admin, manager = server.rpc("e2e_admin"), server.rpc("e2e_manager")
    marker = os.path.join(on_w1, "zz", "only-on-w1")
    os.makedirs(os.path.dirname(marker))
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write("written on the worker's disk")
    for path in (os.path.dirname(marker), marker):
        os.chown(path, ODOO_UID, ODOO_UID)
    backup = admin("ops.backup", "create_backup", {"project": SLUG})
    run_worker(server, projects=SLUG, host=HOST)
    done = manager("ops.backup", "read", [backup["id"]], ["state", "error_message", "manifest"])[0]
    assert done["state"] == "done", done["error_message"]
    assert done["manifest"]["filestore_files"] == sum(len(files) for _d, _s, files in os.walk(on_w1)), done
    queued = admin("ops.backup", "restore_backup", [backup["id"]])
    with Poller(env["url"]) as visitor:
        run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    assert len(visitor.answers) > 10 and visitor.failures() == [], visitor.failures()[:5]
    after = manager("ops.environment", "read", [env["id"]], FIELDS + ["swarm_node"])[0]
    assert after["swarm_node"] == "w1" and serves(after["url"], after["database_name"]), after
    restored = os.path.join(os.path.dirname(on_w1), after["database_name"])
    with open(os.path.join(restored, "zz", "only-on-w1"), encoding="utf-8") as handle:
        assert handle.read() == "written on the worker's disk"
    assert not os.path.exists(on_w1), "the database it replaced went with its filestore"
    here = os.path.join(filestore_root(), SLUG, "env-%d" % env["id"], "filestore", after["database_name"])
    assert not os.path.exists(here), "nothing of it stays on the platform's disk"
    # A deploy that updates a module (its recorded version older than the manifest's): the database copied, its
    # filestore hard-linked on the worker's disk, Odoo's update run there as a Swarm job.
    sql(after["database_name"], "UPDATE ir_module_module SET latest_version = '18.0.0.9.0' WHERE name = %s", [ADDON])
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "environment_id": env["id"]})
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    assert "%s 18.0.0.9.0 -> 18.0.1.0.0" % ADDON in logs and "Running update as a Swarm job on node w1" in logs, (
        logs[-3000:])
    deployed = manager("ops.environment", "read", [env["id"]], FIELDS + ["swarm_node"])[0]
    assert deployed["database_name"] != after["database_name"] and serves(deployed["url"], deployed["database_name"])
    copied = os.path.join(os.path.dirname(on_w1), deployed["database_name"], "zz", "only-on-w1")
    assert os.stat(copied).st_ino == os.stat(os.path.join(restored, "zz", "only-on-w1")).st_ino, "hard-linked"
    assert sql(deployed["database_name"], "SELECT latest_version FROM ir_module_module WHERE name = %s",
               [ADDON]) == [("18.0.1.0.0",)], "Odoo updated it there"
    # A rollback there: the database from before the deploy serves again, its files on the worker's disk.
    queued = manager("ops.environment", "rollback", [env["id"]])
    with Poller(env["url"]) as visitor:
        run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    assert len(visitor.answers) > 10 and visitor.failures() == [], visitor.failures()[:5]
    back = manager("ops.environment", "read", [env["id"]], FIELDS + ["swarm_node"])[0]
    assert (back["database_name"], back["swarm_node"]) == (after["database_name"], "w1"), back
    assert serves(back["url"], back["database_name"]) and os.path.isfile(os.path.join(restored, "zz", "only-on-w1"))


def _staging_copy_of_it(server, swarm_prod, catcher):
    """Staging on a swarm host, of a production on the worker's own disk: a
    copy of production's database and of its filestore (taken from that
    disk, with the file written only there), neutralized, served by a unit
    on its internal overlay; its only mail server is the catcher at its
    door, and what it sends there is caught and shown on the environment."""
    manager = server.rpc("e2e_manager")
    prod_db = swarm_prod["database_name"]
    sql(prod_db, "INSERT INTO res_partner (name, active) VALUES ('Made on the swarm', true)")
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "release/next"})
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-4000:])
    assert "Copying production" in logs and "odoo neutralize" in logs, logs[-3000:]
    assert "Copied the filestore from node w1 to the platform's disk" in logs, logs[-3000:]
    env = manager("ops.environment", "read", [queued["environment_id"]], FIELDS + ["stage", "swarm_node"])[0]
    db = env["database_name"]
    assert env["stage"] == "staging" and env["host"] == HOST and db != prod_db and env["swarm_node"] != "w1", env
    copied = os.path.join(filestore_root(), SLUG, "env-%d" % env["id"], "filestore", db, "zz", "only-on-w1")
    with open(copied, encoding="utf-8") as handle:
        assert handle.read() == "written on the worker's disk", "production's files, from the worker's disk"
    assert sql(db, "SELECT count(*) FROM res_partner WHERE name = 'Made on the swarm'") == [(1,)]
    assert sql(db, "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'") == [("true",)]
    door = swarm_gateway.door_address({"subnet": env["network_subnet"]})
    assert sql(db, "SELECT smtp_host, smtp_port FROM ir_mail_server WHERE active") == [(door, catcher)]
    answers_within(env["url"], 30)
    assert serves(env["url"], db)
    # a mail from inside its unit, to its mail server, with the login its configuration file gives it
    container = swarm_prod["engine"].client.containers.get(swarm_prod["engine"]._exec_target(env["container_id"])[1])
    code, out = container.exec_run(["python3", "-c", SEND_MAIL, door, str(catcher), "Sent from a swarm staging"])
    assert code == 0 and "SENT" in out.decode(), out.decode()[-2000:]
    caught = manager("ops.mail", "search_read", [("environment_id", "=", env["id"])], fields=["subject"])
    assert [m["subject"] for m in caught] == ["Sent from a swarm staging"], caught
    return env["id"]


def _staging_built_on_its_own_disk(server, staging_id):
    """Staging moved to the worker's own disk: its next build copies
    production's database, and production's filestore node to node, there;
    Odoo's neutralize and the modules' update run there as Swarm jobs."""
    manager = server.rpc("e2e_manager")
    run, logs = run_on_swarm(server, manager, manager("ops.environment", "move_to_node", [staging_id], "w1"))
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "release/next"})
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-4000:])
    assert "Copied the filestore from node w1 to node w1" in logs, logs[-3000:]
    assert "Running neutralize as a Swarm job on node w1" in logs, logs[-3000:]
    env = manager("ops.environment", "read", [staging_id], FIELDS + ["swarm_node"])[0]
    assert env["swarm_node"] == "w1", env
    copied = os.path.join(lab.OWN_DISK, SLUG, "env-%d" % staging_id, "filestore", env["database_name"], "zz",
                          "only-on-w1")
    with open(copied, encoding="utf-8") as handle:
        assert handle.read() == "written on the worker's disk"
    assert sql(env["database_name"], "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
               ) == [("true",)]
    answers_within(env["url"], 30)
    assert serves(env["url"], env["database_name"])


def test_production_moves_to_a_node_its_loss_is_said_and_a_drain_brings_it_back(server, swarm_prod, swarm_lab,
                                                                               ops_bin, catcher):
    """A machine that joined the swarm appears among the host's nodes; an Ops
    manager gives it its Docker endpoint and moves production there (its
    image copied engine to engine, no visitor's request failing). Its engine
    killed, the reconciliation marks production failed and names the node
    within two minutes; back, production runs and answers again. Drained,
    the node's environments move back to the manager's node without a
    failed request and the node takes nothing more."""
    manager, engine, host_id = server.rpc("e2e_manager"), swarm_prod["engine"], swarm_prod["host_id"]
    worker = lab.worker(swarm_lab, images=())
    image = manager("ops.environment", "read", [swarm_prod["id"]], ["image_digest"])[0]["image_digest"]
    if worker.image_id(image):
        worker.remove_image(image)  # the platform brings it
    manager("ops.host", "action_swarm_nodes", [host_id])
    nodes = {n["name"]: n for n in manager("ops.host.node", "search_read", [("host_id", "=", host_id)],
                                           ["name", "hostname", "role", "state", "availability", "memory_mb"])}
    own = engine.own_node()
    assert set(nodes) == {own, "w1"}, nodes
    assert (nodes["w1"]["role"], nodes["w1"]["state"], nodes["w1"]["hostname"]) == ("worker", "ready", "ipai-sw2")
    assert nodes["w1"]["memory_mb"] > 256, nodes
    # The lab's worker has a disk of its own (tests/swarm_lab.py): the platform reaches it through its engine.
    with pytest.raises(xmlrpc.client.Fault, match="give it its Docker endpoint"):
        manager("ops.host.node", "write", [nodes["w1"]["id"]], {"storage": "own"})
    manager("ops.host.node", "write", [nodes["w1"]["id"]], {"docker_url": swarm_lab["engines"][1][0],
                                                            "storage": "own"})
    for login in ("e2e_admin", "e2e_dev"):
        with pytest.raises(xmlrpc.client.Fault, match="Only Ops managers"):
            server.rpc(login)("ops.environment", "move_to_node", [swarm_prod["id"]], "w1")
    with pytest.raises(xmlrpc.client.Fault, match="has no node 'no-such-node'"):
        manager("ops.environment", "move_to_node", [swarm_prod["id"]], "no-such-node")

    queued = manager("ops.environment", "move_to_node", [swarm_prod["id"]], "w1")
    with Poller(swarm_prod["url"]) as visitor:
        run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    assert "Copied image %s to node w1" % image[:19] in logs and worker.image_id(image) == image, logs[-3000:]
    assert "Copied the data directory from node %s to node w1" % engine.own_node() in logs, logs[-3000:]
    assert "Copied its filestore from node" in logs, logs[-3000:]
    on_w1 = os.path.join(lab.OWN_DISK, SLUG, "env-%d" % swarm_prod["id"], "filestore", swarm_prod["database_name"])
    assert os.path.isdir(on_w1) and os.listdir(on_w1), "the filestore is on the worker's own disk"
    left = os.path.join(filestore_root(), SLUG, "env-%d" % swarm_prod["id"], "filestore")
    assert "Removed its filestore from node %s's disk" % own in logs and not os.path.exists(left), logs[-2000:]
    assert len(visitor.answers) > 10 and visitor.failures() == [], visitor.failures()[:5]
    env = manager("ops.environment", "read", [swarm_prod["id"]], FIELDS + ["swarm_node"])[0]
    assert env["swarm_node"] == "w1" and engine.container(env["container_id"])["node"] == "ipai-sw2", env
    assert serves(env["url"], env["database_name"]) and env["upstream_socket"] == swarm_prod["upstream_socket"]
    swarm_prod.update(env)

    # A shell in production runs in its task on the worker, through the worker's own engine; without the node's
    # endpoint the platform says what it misses.
    task = engine.container(env["container_id"])["task_container"]
    done = _env_shell(server, ops_bin, "echo $HOSTNAME; python3 -c 'print(6*7)'\n")
    assert done.returncode == 0, done
    assert done.stdout.split() == [worker.client.containers.get(task).attrs["Config"]["Hostname"], "42"], done
    with pytest.raises(runtime.RuntimeFailure, match="whose own Docker engine is not known here"):
        runtime.connect(swarm_lab["engines"][0][0], kind="swarm").exec_run(env["container_id"], ["true"])
    # Its log is written on the worker's disk; reading it takes what was written there.
    marker = "pulled-from-w1-%d" % time.time_ns()
    assert requests.get(env["url"] + "/web/login?" + marker, timeout=30).status_code == 200
    deadline, read = time.monotonic() + 20, []
    while not read and time.monotonic() < deadline:  # Odoo logs the request once it answered
        read = manager("ops.environment", "logs", [env["id"]], grep=marker)["lines"] or time.sleep(0.5) or []
    assert len(read) == 1 and "GET /web/login?%s" % marker in read[0]["text"], read
    _backup_restore_and_deploy_on_its_own_disk(server, env, on_w1)
    env = manager("ops.environment", "read", [swarm_prod["id"]], FIELDS + ["swarm_node"])[0]
    swarm_prod.update(env)
    staging_id = _staging_copy_of_it(server, swarm_prod, catcher)
    _staging_built_on_its_own_disk(server, staging_id)

    lab.command("kill", "2")
    try:
        took = reconcile_until(server, env["id"], "failed", 120)
        said = manager("mail.message", "search_read", [("model", "=", "ops.environment"), ("res_id", "=", env["id"]),
                                                       ("body", "ilike", "Reconciliation")], ["body"], order="id desc")
        assert said and "node ipai-sw2 does not answer" in said[0]["body"], said[:2]
        assert manager("ops.environment", "read", [env["id"]], ["node_lost"])[0]["node_lost"]
        print("production marked failed %.0f s after its node's engine was killed" % took)
    finally:
        lab.command("start", "2")
    reconcile_until(server, env["id"], "running", 120)
    answers_within(env["url"], 60)
    assert serves(env["url"], env["database_name"])

    started = time.monotonic()
    with Poller(swarm_prod["url"]) as visitor:
        moves = manager("ops.host.node", "drain", [nodes["w1"]["id"]])
        run_worker(server, projects=SLUG, host=HOST)
    drained = time.monotonic() - started
    assert sorted(m["environment_id"] for m in moves) == sorted([env["id"], staging_id]), moves
    for move in moves:
        done = manager("ops.run", "api_read", [move["id"]])
        assert done["state"] == "succeeded", done["error_message"]
    assert len(visitor.answers) > 10 and visitor.failures() == [], visitor.failures()[:5]
    env = manager("ops.environment", "read", [swarm_prod["id"]], FIELDS + ["swarm_node", "node_lost"])[0]
    assert env["swarm_node"] == own and not env["node_lost"] and engine.container(env["container_id"])["node"] == (
        "ipai-sw1"), env
    shell(server, "env['ops.environment']._cron_reconcile()\nenv.cr.commit()\n")
    w1 = manager("ops.host.node", "read", [nodes["w1"]["id"]], ["availability", "draining", "environment_count"])[0]
    assert (w1["availability"], w1["draining"], w1["environment_count"]) == ("drain", False, 0), w1
    print("node drained of its two environments in %.1f s" % drained)
    for env_id in (env["id"], staging_id):
        left = os.path.join(lab.OWN_DISK, SLUG, "env-%d" % env_id)
        assert os.listdir(left) == [], "nothing of it stays on the worker's disk"
    assert manager("ops.environment", "logs", [env["id"]], grep=marker)["lines"], "its log stays the platform's"
    manager("ops.host.node", "action_activate", [nodes["w1"]["id"]])
    swarm_prod.update(env)


def test_a_production_whose_node_is_lost_is_restored_on_another_node(server, swarm_prod, swarm_lab):
    """A stopped production moves to the worker and stays stopped there
    until started. Its node then lost for good (its engine does not come
    back), production is failed; a project admin restores its latest
    backup, on request: the restore starts it on a node that answers (the
    manager's), and it serves the backup's data. The node back, its
    orphaned unit is gone and production stays where it was restored."""
    manager, admin, engine = server.rpc("e2e_manager"), server.rpc("e2e_admin"), swarm_prod["engine"]
    for kind in ("stop", "move", "start"):
        queued = manager("ops.environment", "move_to_node", [swarm_prod["id"]], "w1") if kind == "move" else (
            manager("ops.run", "queue_run", {"project": SLUG, "kind": kind, "environment_id": swarm_prod["id"]}))
        run, logs = run_on_swarm(server, manager, queued)
        assert run["state"] == "succeeded", (kind, run["error_message"], logs[-3000:])
        env = manager("ops.environment", "read", [swarm_prod["id"]], FIELDS + ["swarm_node"])[0]
        if kind == "move":
            assert (env["state"], env["swarm_node"]) == ("stopped", "w1"), env
            assert engine.container(env["container_id"])["status"] == "exited", "moved, not started"
            answer = requests.get(env["url"] + "/web/login", timeout=30)
            assert answer.status_code == 503 and "is stopped" in answer.text, answer.status_code
    assert (env["state"], env["swarm_node"]) == ("running", "w1"), env
    answers_within(env["url"], 60)
    assert engine.container(env["container_id"])["node"] == "ipai-sw2", env
    lost = env
    latest = manager("ops.backup", "search_read", [("environment_id", "=", swarm_prod["id"]), ("state", "=", "done"),
                                                   ("kind", "!=", "pre_restore")], ["id"], order="id desc", limit=1)
    assert latest, "test_a_backup_restored_on_swarm_fails_no_request made one"
    lab.command("kill", "2")
    try:
        reconcile_until(server, lost["id"], "failed", 120)
        queued = admin("ops.backup", "restore_backup", [latest[0]["id"]])
        run, logs = run_on_swarm(server, manager, queued)
        assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
        env = manager("ops.environment", "read", [swarm_prod["id"]], FIELDS + ["swarm_node", "node_lost"])[0]
        assert (env["state"], env["swarm_node"], env["node_lost"]) == ("running", engine.own_node(), False), env
        assert engine.container(env["container_id"])["node"] == "ipai-sw1", env
        assert serves(env["url"], env["database_name"])
        names = [name for (name,) in sql(env["database_name"], "SELECT name FROM res_partner WHERE name LIKE "
                                                               "'%% the swarm backup'")]
        assert names == ["Before the swarm backup"], names
    finally:
        lab.command("start", "2")
    deadline = time.monotonic() + 120
    while {n["hostname"]: n["state"] for n in engine.nodes()}.get("ipai-sw2") != "ready":
        assert time.monotonic() < deadline, "the worker did not rejoin within 2 minutes"
        time.sleep(1)
    shell(server, "env['ops.environment']._cron_reconcile()\nenv.cr.commit()\n")
    assert engine.container(lost["container_id"]) is None, "the lost node's unit went with the restore"
    after = manager("ops.environment", "read", [swarm_prod["id"]], FIELDS + ["swarm_node"])[0]
    assert (after["state"], after["container_id"], after["swarm_node"]) == (
        "running", env["container_id"], engine.own_node()), after
    assert serves(after["url"], after["database_name"])
    swarm_prod.update(after)
    # What the lost node kept of production (its data directory) stays while something there changed lately (a
    # copy could be writing to it); then the garbage collector removes it through the node's engine.
    stale = os.path.join(lab.OWN_DISK, SLUG, "env-%d" % swarm_prod["id"])
    assert os.path.isdir(stale), "the node kept what it had"
    shell(server, "env['ops.environment']._gc_node_dirs(set())\n")
    assert os.path.isdir(stale), "changed minutes ago: left alone"
    out = shell(server, "print('SWEPT', env['ops.environment']._gc_node_dirs(set(), quiet=0))\n")
    assert "SWEPT 0" not in out and not os.path.exists(stale), out[-2000:]


def _push_a_change(repo_url, branch, tmp_path):
    """A new commit on ``branch`` that changes the test addon (a file of it)."""
    work = tmp_path / "work"
    git = ["git", "-c", "user.email=dev@example.com", "-c", "user.name=Dev"]
    subprocess.run(git + ["clone", "-q", "--branch", branch, repo_url, str(work)], check=True, timeout=60)
    (work / ADDON / "CHANGES.md").write_text("A change built on the worker's disk.\n", encoding="utf-8")
    for args in (["add", "-A"], ["commit", "-qm", "A change"], ["push", "-q", "origin", branch]):
        subprocess.run(git + args, cwd=work, check=True, timeout=60)


def test_a_development_build_on_a_swarm_host_reaches_its_doors_and_nothing_else(server, swarm_prod, swarm_lab,
                                                                                   catcher, tmp_path):
    """A branch's build on a swarm host: an internal overlay whose only way
    out is its door. From inside its unit: its own database and the mail
    catcher (its own login) through the door, the egress proxy there for the
    rest (which refuses what is not allow-listed and the host itself); no
    route off the overlay, nothing else at the door, not production's door.
    Destroyed, its doors and its network go."""
    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "feature/dev"})
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-4000:])
    dev = manager("ops.environment", "read", [run["environment_id"]], FIELDS)[0]
    assert dev["host"] == HOST and dev["state"] == "running" and dev["upstream_socket"], dev
    answers_within(dev["url"], 30)
    assert serves(dev["url"], dev["database_name"]) and not serves(dev["url"], swarm_prod["database_name"])
    engine = swarm_prod["engine"]
    door = swarm_gateway.door_address({"subnet": dev["network_subnet"]})
    prod_door = swarm_gateway.door_address({"subnet": swarm_prod["network_subnet"]})
    proxy = "http://%s:%d" % (door, server.egress_port)
    spec = engine.client.services.get(dev["container_id"]).attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert "HTTP_PROXY=%s" % proxy in spec["Env"], spec["Env"]
    db_port = int(os.environ["OPS_DB_PORT"])
    got = net_probe(engine._exec_target(dev["container_id"])[1], [
        {"id": "own db at the door", "pg": {"host": door, "port": db_port, "dbname": dev["database_name"],
                                            "own": True}},
        {"id": "production's db at the door", "pg": {"host": door, "port": db_port,
                                                      "dbname": swarm_prod["database_name"], "own": True}},
        {"id": "mail catcher at the door", "smtp": [door, catcher]},
        {"id": "door 8069", "tcp": [door, 8069]},
        {"id": "door 22", "tcp": [door, 22]},
        {"id": "production's door", "tcp": [prod_door, db_port]},
        {"id": "node 2377", "tcp": [swarm_lab["engines"][0][1], 2377]},
        {"id": "outside direct", "tcp": ["10.251.0.1", 80]},
        {"id": "outside via proxy", "http": "http://192.0.2.10/", "proxy": proxy},
        {"id": "control plane via proxy", "http": server.url + "/xmlrpc/2/db", "proxy": proxy},
        {"id": "host db via proxy", "http": "http://127.0.0.1:%d/" % db_port, "proxy": proxy},
    ], client=engine.client)["results"]
    assert got.pop("own db at the door") == "CONNECTED", got
    assert got.pop("production's db at the door") != "CONNECTED", got
    assert got.pop("mail catcher at the door") == "AUTH OK", got
    for what in ("outside via proxy", "control plane via proxy", "host db via proxy"):
        assert got.pop(what) == 403, (what, got)
    assert "open" not in got.values(), got

    # Moved to the worker's own disk, its next commit is built there: the template's filestore copied there, the
    # changed module updated with its tests in a Swarm job there.
    run, logs = run_on_swarm(server, manager, manager("ops.environment", "move_to_node", [dev["id"]], "w1"))
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    _push_a_change(manager("ops.project", "read", [swarm_prod["project_id"]], ["repo_url"])[0]["repo_url"],
                   "feature/dev", tmp_path)
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "feature/dev"})
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-4000:])
    assert "Copied the filestore from the platform's disk to node w1" in logs, logs[-3000:]
    assert "Running init as a Swarm job on node w1" in logs and "modules to update: %s" % ADDON in logs, logs[-3000:]
    rebuilt = manager("ops.environment", "read", [dev["id"]], FIELDS + ["swarm_node"])[0]
    assert rebuilt["swarm_node"] == "w1" and rebuilt["database_name"] != dev["database_name"], rebuilt
    assert os.path.isdir(os.path.join(lab.OWN_DISK, SLUG, "env-%d" % dev["id"], "filestore",
                                      rebuilt["database_name"])), "its files are on the worker's disk"
    answers_within(rebuilt["url"], 30)
    assert serves(rebuilt["url"], rebuilt["database_name"])

    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "destroy", "environment_id": dev["id"]})
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    mine = runtime.labels_for(namespace(server), environment=dev["id"])
    assert engine.containers(mine) == [] and not engine.network_names(mine)
    assert not os.path.exists(os.path.dirname(dev["upstream_socket"])) or not [
        name for name in os.listdir(os.path.dirname(dev["upstream_socket"])) if name.endswith(".sock")]
    assert hba_sources(server, dev["id"]) == []


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


def test_destroying_it_leaves_nothing_on_the_swarm(server, swarm_prod):
    """Destroyed on the worker's own disk: nothing of it stays there nor on the swarm."""
    manager = server.rpc("e2e_manager")
    engine = swarm_prod["engine"]
    run, logs = run_on_swarm(server, manager, manager("ops.environment", "move_to_node", [swarm_prod["id"]], "w1"))
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    on_w1 = os.path.join(lab.OWN_DISK, SLUG, "env-%d" % swarm_prod["id"])
    assert os.path.isdir(os.path.join(on_w1, "filestore")), "its files are on the worker's disk"
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "destroy", "environment_id": swarm_prod["id"]})
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    assert "Removed its data directory from node w1's disk" in logs and not os.path.exists(on_w1), logs[-2000:]
    mine = runtime.labels_for(namespace(server), environment=swarm_prod["id"])
    assert engine.containers(mine) == [], "no unit or container of it"
    assert not engine.network_names(mine), "no network of it"
    assert not [s for s in engine.client.secrets.list() if s.attrs["Spec"]["Labels"].get(
        "ipai-ops.environment") == str(swarm_prod["id"])], "no secret of it"
    sockets = os.path.dirname(swarm_prod["upstream_socket"])
    assert not [name for name in os.listdir(sockets) if name.endswith(".sock")], os.listdir(sockets)
    assert hba_sources(server, swarm_prod["id"]) == [], "its pg_hba line went"

