"""executors/cleanup.py for an environment whose files are on a node's own
disk: what a lost attempt of a run left there (its databases'
filestores, its copy of OpenUpgrade's scripts) goes through the node's
engine, with its databases; the environment's current files stay. The
local engine stands for the node's, so the node's disk is this machine's
here: the tools' copy, which only the node's path removes, and the log
when the node does not answer show that path was taken (the lab's nodes,
with disks of their own, are in tests/test_swarm_serving_nodes.py)."""

import os
import secrets

import pytest
from odoo.addons.ipai_ops_core.executors import cleanup, node_sweep, paths
from odoo.addons.ipai_ops_core.services import naming, postgres, runtime
from odoo.addons.ipai_ops_core.tests.pg_helpers import _admin, _admin_execute

IMAGE = "ipai-ops/odoo:18.0"  # the helpers' image (services/swarm_guard.IMAGE); scripts/setup.sh builds it
NODE_URL = "unix:///var/run/docker.sock"


@pytest.fixture(name="lost_attempt")
def lost_attempt_fixture(tmp_path):
    engine = runtime.connect(timeout=60)
    if not engine.image_id(IMAGE):
        pytest.fail("%s is missing: scripts/setup.sh builds it" % IMAGE)
    namespace = "cl%s" % secrets.token_hex(3)
    role = naming.env_role_name(namespace, 7)
    spec = {"namespace": namespace, "run_id": 42, "environment_id": 7, "project_slug": "shop", "db": _admin(),
            "db_role": role, "legacy_role": naming.legacy_role_name(namespace, "shop"),
            "work_root": str(tmp_path / "work"), "secrets_root": str(tmp_path / "secrets"),
            "filestore_root": str(tmp_path / "node-disk"), "docker_url": None, "runtime_kind": "docker",
            "host": "local", "node": "w9", "node_engines": {"w9": NODE_URL}, "node_storage": {"w9": "own"},
            "current": {"container_id": None, "database_name": "%s_7_41" % namespace,
                        "previous_database_name": None, "db_owner": role}}
    postgres.ensure_role(spec["db"], role, secrets.token_urlsafe(16))
    made = ["%s_7_42" % namespace, "%s_7_42_tpl" % namespace, spec["current"]["database_name"]]
    for name in made:
        postgres.create_database(spec["db"], name, role)
    yield spec, made
    for name in made:
        _admin_execute('DROP DATABASE IF EXISTS "%s"' % name)
    _admin_execute('DROP ROLE IF EXISTS "%s"' % role)


def test_a_lost_attempts_files_on_a_nodes_own_disk_go_with_its_databases(lost_attempt, tmp_path):
    spec, (run_db, run_tpl, current_db) = lost_attempt
    env_dir = tmp_path / "node-disk" / "shop" / "env-7"
    for name in (run_db, run_tpl, current_db):
        (env_dir / "filestore" / name / "ab").mkdir(parents=True)
        (env_dir / "filestore" / name / "ab" / "abcdef").write_text("an attachment")
    tools = tmp_path / "node-disk" / node_sweep.TOOLS_ROOT
    (tools / "run-42" / "0" / "scripts").mkdir(parents=True)
    (tools / "run-43" / "0").mkdir(parents=True)
    os.chown(env_dir / "filestore", paths.ODOO_UID, paths.ODOO_UID)  # as on a node: the helpers run as Odoo's user
    for folder, dirs, _files in os.walk(env_dir / "filestore"):
        for name in dirs:
            os.chown(os.path.join(folder, name), paths.ODOO_UID, paths.ODOO_UID)
    said = []
    removed = cleanup.remove_leftovers(spec, log=said.append)
    assert sorted(removed["databases"]) == sorted([run_db, run_tpl]), removed
    assert not postgres.database_exists(spec["db"], run_db) and postgres.database_exists(spec["db"], current_db)
    assert sorted(os.listdir(env_dir / "filestore")) == [current_db], "the lost databases' filestores went"
    assert (env_dir / "filestore" / current_db / "ab" / "abcdef").is_file()
    assert sorted(os.listdir(tools)) == ["run-43"], "the run's copy of its tools went, another run's stayed"
    assert any(run_db in line for line in said), said


def test_a_node_that_does_not_answer_keeps_them_and_the_log_says_so(lost_attempt, tmp_path):
    spec, (run_db, _run_tpl, _current_db) = lost_attempt
    spec["node_engines"] = {"w9": "tcp://127.0.0.1:9"}  # nothing listens there
    (tmp_path / "node-disk" / "shop" / "env-7" / "filestore" / run_db).mkdir(parents=True)
    said = []
    removed = cleanup.remove_leftovers(spec, log=said.append)
    assert run_db in removed["databases"], "the databases go all the same: they are on the shared server"
    assert any("stays there for now" in line and "node w9" in line for line in said), said
