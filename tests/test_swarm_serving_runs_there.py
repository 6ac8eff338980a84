"""Runs on the lab worker's own disk (tests/swarm_prod.py): a development
build reaches its doors and nothing else, and its next commit is built
there; production is upgraded to the next Odoo version there; destroyed
there, nothing of it stays."""

import os
import re
import subprocess

import swarm_lab as lab
from e2e import ADDON, answers_within, logs_of, namespace, run_worker, serves, sql
from odoo.addons.ipai_ops_core.services import runtime, swarm_gateway
from probes import net_probe
from swarm_prod import FIELDS, HOST, SLUG, hba_sources, run_on_swarm


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

def _inodes(folder):
    """{relative path: inode} of the files under ``folder``."""
    return {os.path.relpath(os.path.join(path, name), folder): os.stat(os.path.join(path, name)).st_ino
            for path, _dirs, names in os.walk(folder) for name in names}


def test_production_on_the_worker_s_own_disk_is_upgraded_there(server, swarm_prod, swarm_lab):
    """Production on the worker's own disk goes from Odoo 18.0 to 19.0: the
    scan moves the addon's manifest to 19.0 on upgrade/19.0, the preview
    migrates a copy (its filestore from the worker's disk), and the approved
    upgrade runs there: its new image brought there before production stops,
    its filestore hard-linked on that disk, OpenUpgrade
    as a Swarm job on the worker with its scripts copied there for the job
    only, production served by Odoo 19.0 on the worker with what people
    made, its previous database kept for a rollback."""
    manager, admin = server.rpc("e2e_manager"), server.rpc("e2e_admin")
    pid = swarm_prod["project_id"]
    queued = admin("ops.project", "upgrade_scan", [pid], "19.0", True)
    run_worker(server, projects=SLUG)  # the scan reads code only: this machine's worker (it builds 19.0's image)
    scan = manager("ops.run", "api_read", [queued["id"]])
    assert scan["state"] == "succeeded", (scan["error_message"], logs_of(manager, queued["id"])[-3000:])
    lab.runtime_image(swarm_lab, "ipai-ops/odoo:19.0")
    queued = admin("ops.project", "upgrade_preview", [pid], "19.0")
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-4000:])
    preview = manager("ops.environment", "read", [queued["environment_id"]], FIELDS + ["odoo_version_running"])[0]
    assert (preview["odoo_version_running"], preview["state"]) == ("19.0", "running"), preview

    run, logs = run_on_swarm(server, manager, manager("ops.environment", "move_to_node", [swarm_prod["id"]], "w1"))
    assert run["state"] == "succeeded", (run["error_message"], logs[-3000:])
    before = manager("ops.environment", "read", [swarm_prod["id"]], FIELDS + ["swarm_node"])[0]
    env_dir = os.path.join(lab.OWN_DISK, SLUG, "env-%d" % swarm_prod["id"])
    files = _inodes(os.path.join(env_dir, "filestore", before["database_name"]))
    assert files, "production's attachments are on the worker's disk"
    made = sql(before["database_name"], "SELECT count(*) FROM res_partner WHERE name = 'Before the swarm backup'")
    assert made == [(1,)], made
    queued = admin("ops.project", "upgrade_production", [pid], "19.0")
    assert queued["state"] == "waiting_approval", queued
    admin("ops.run", "approve_run", [queued["id"]])
    run, logs = run_on_swarm(server, manager, queued)
    assert run["state"] == "succeeded", (run["error_message"], logs[-4000:])
    assert "Running openupgrade as a Swarm job on node w1" in logs, logs[-4000:]
    assert logs.index("Copied image") < logs.index("Stopping production"), "the image reached w1 before the downtime"
    assert re.search(r"Copied site-19\.0-\w+ to node w1", logs), logs[-4000:]
    after = manager("ops.environment", "read", [swarm_prod["id"]], FIELDS + [
        "swarm_node", "odoo_version_running", "previous_database_name"])[0]
    assert (after["odoo_version_running"], after["swarm_node"]) == ("19.0", "w1"), after
    assert after["previous_database_name"] == before["database_name"], "kept for a rollback"
    assert swarm_prod["engine"].container(after["container_id"])["node"] == "ipai-sw2", after
    answers_within(after["url"], 60)
    assert serves(after["url"], after["database_name"])
    assert sql(after["database_name"], "SELECT count(*) FROM res_partner WHERE name = 'Before the swarm backup'"
               ) == made, "what people made went through the migration"
    upgraded = _inodes(os.path.join(env_dir, "filestore", after["database_name"]))
    assert {path: upgraded.get(path) for path in files} == files, "hard-linked on the worker's disk"
    tools = os.path.join(lab.OWN_DISK, ".ipai-ops-tools")
    assert os.path.isdir(tools) and os.listdir(tools) == [], "the scripts' copy went with the job"
    swarm_prod.update(after)


def test_destroying_it_leaves_nothing_on_the_swarm(server, swarm_prod):
    """Destroyed on the worker's own disk: nothing of it stays there nor on the swarm."""
    manager = server.rpc("e2e_manager")
    engine = swarm_prod["engine"]
    if manager("ops.environment", "read", [swarm_prod["id"]], ["swarm_node"])[0]["swarm_node"] != "w1":
        run, logs = run_on_swarm(server, manager, manager("ops.environment", "move_to_node", [swarm_prod["id"]],
                                                          "w1"))
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
