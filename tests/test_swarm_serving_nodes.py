"""The swarm production on a second machine (the lab's worker w1, with a
disk of its own): moved there and served, backed up, restored, deployed,
rolled back and copied to staging there; staging built there (obfuscated)
and production's backup restored into it there; its node's
loss said and the node drained; production restored on another node once
its node is lost for good."""

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
    answers_within,
    filestore_root,
    run_worker,
    serves,
    shell,
    sql,
)
from odoo.addons.ipai_ops_core.executors.paths import ODOO_UID
from odoo.addons.ipai_ops_core.services import runtime, swarm_gateway
from swarm_prod import FIELDS, HOST, SLUG, reconcile_until, run_on_swarm

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


def _staging_built_on_its_own_disk(server, swarm_prod, staging_id):
    """Staging moved to the worker's own disk: its next build, obfuscated,
    copies production's database, and production's filestore node to node,
    there; Odoo's neutralize, obfuscate (its one-time key a secret of its
    job, gone with it) and the modules' update run there as Swarm jobs."""
    manager = server.rpc("e2e_manager")
    run, logs = run_on_swarm(server, manager, manager("ops.environment", "move_to_node", [staging_id], "w1"))
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    manager("ops.project", "write", [swarm_prod["project_id"]], {"staging_obfuscate": True})
    try:
        queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "release/next"})
        run, logs = run_on_swarm(server, manager, queued)
    finally:
        manager("ops.project", "write", [swarm_prod["project_id"]], {"staging_obfuscate": False})
    assert run["state"] == "succeeded", (run["error_message"], logs[-4000:])
    assert "Copied the filestore from node w1 to node w1" in logs, logs[-3000:]
    for what in ("neutralize", "obfuscate"):
        assert "Running %s as a Swarm job on node w1" % what in logs, logs[-3000:]
    job = {"label": ["%srun=%d" % (runtime.LABEL_PREFIX, queued["id"]), "%srole=obfuscate" % runtime.LABEL_PREFIX]}
    assert swarm_prod["engine"].client.secrets.list(filters=job) == [], "the key went with its job"
    env = manager("ops.environment", "read", [staging_id], FIELDS + ["swarm_node"])[0]
    assert env["swarm_node"] == "w1", env
    copied = os.path.join(lab.OWN_DISK, SLUG, "env-%d" % staging_id, "filestore", env["database_name"], "zz",
                          "only-on-w1")
    with open(copied, encoding="utf-8") as handle:
        assert handle.read() == "written on the worker's disk"
    assert sql(env["database_name"], "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
               ) == [("true",)]
    assert sql(env["database_name"], "SELECT count(*) FROM res_partner WHERE name = 'Made on the swarm'") == [(0,)], (
        "names obfuscated")
    assert sql(swarm_prod["database_name"], "SELECT count(*) FROM res_partner WHERE name = 'Made on the swarm'") == [
        (1,)], "production's untouched"
    answers_within(env["url"], 30)
    assert serves(env["url"], env["database_name"])



def _production_s_backup_restored_into_it(server, swarm_prod, staging_id):
    """Production's backup (with the file written only on the worker's
    disk) restored into staging on that disk: the filestore pushed there,
    neutralized there by a Swarm job, nothing of it on the platform's disk."""
    admin, manager = server.rpc("e2e_admin"), server.rpc("e2e_manager")
    backup = manager("ops.backup", "search_read", [("environment_id", "=", swarm_prod["id"]), ("state", "=", "done"),
                                                   ("kind", "=", "manual")], ["id"], order="id desc", limit=1)
    before = manager("ops.environment", "read", [staging_id], ["database_name"])[0]["database_name"]
    run, logs = run_on_swarm(server, manager, admin("ops.backup", "restore_backup", [backup[0]["id"]], staging_id))
    assert run["state"] == "succeeded", (run["error_message"], logs[-4000:])
    assert "Running neutralize as a Swarm job on node w1" in logs, logs[-3000:]
    env = manager("ops.environment", "read", [staging_id], FIELDS + ["swarm_node"])[0]
    db = env["database_name"]
    assert env["swarm_node"] == "w1" and db != before, env
    restored = os.path.join(lab.OWN_DISK, SLUG, "env-%d" % staging_id, "filestore", db, "zz", "only-on-w1")
    with open(restored, encoding="utf-8") as handle:
        assert handle.read() == "written on the worker's disk"
    here = os.path.join(filestore_root(), SLUG, "env-%d" % staging_id, "filestore", db)
    assert not os.path.exists(here), "nothing of it stays on the platform's disk"
    assert sql(db, "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'") == [("true",)]
    assert sql(db, "SELECT count(*) FROM res_partner WHERE name = 'Before the swarm backup'") == [(1,)]
    answers_within(env["url"], 30)
    assert serves(env["url"], db)

def test_production_moves_to_a_node_its_loss_is_said_and_a_drain_brings_it_back(server, swarm_prod, swarm_lab,
                                                                               ops_bin, catcher):
    """A machine that joined the swarm appears among the host's nodes; an Ops
    manager gives it its Docker endpoint and moves production there (its
    image copied engine to engine, no visitor's request failing). Its engine
    killed, the reconciliation marks production failed and names the node
    within two minutes; back, production and staging run again and
    production answers. Drained,
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
    _staging_built_on_its_own_disk(server, swarm_prod, staging_id)
    _production_s_backup_restored_into_it(server, swarm_prod, staging_id)

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
    # both come back: each once its unit runs again (their health checks pass one after the other)
    reconcile_until(server, env["id"], "running", 120)
    reconcile_until(server, staging_id, "running", 120)
    answers_within(env["url"], 60)
    assert serves(env["url"], env["database_name"])
    try:
        _drained_of_both(server, swarm_prod, engine, nodes, env, staging_id, own, marker)
    finally:
        manager("ops.host.node", "action_activate", [nodes["w1"]["id"]])  # the next tests place units there


def _drained_of_both(server, swarm_prod, engine, nodes, env, staging_id, own, marker):
    """A drain of w1 moves production and staging off it, no visitor's request failing."""
    manager = server.rpc("e2e_manager")
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
    # So does the copy of OpenUpgrade's scripts that a run whose worker died left there, once no run is in progress.
    left_tools = os.path.join(lab.OWN_DISK, ".ipai-ops-tools", "run-1", "0")
    os.makedirs(left_tools, exist_ok=True)
    shell(server, "env['ops.environment']._gc_node_dirs(set(), runs=set())\n")
    assert os.path.isdir(stale) and os.path.isdir(left_tools), "changed minutes ago: left alone"
    out = shell(server, "print('SWEPT', env['ops.environment']._gc_node_dirs(set(), quiet=0, runs=set()))\n")
    assert "SWEPT 0" not in out and not os.path.exists(stale), out[-2000:]
    assert not os.path.exists(os.path.dirname(left_tools)), "the dead run's copy of its tools went"
