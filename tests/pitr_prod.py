"""The production of tests/test_pitr_e2e.py: made on the shared server,
production's cluster set up by an Ops manager, then that production moved
onto it by its next deploy (a first attempt failing halfway) and a staging
built from it. One for the test module that asks for it (module-scoped
fixtures of a plugin, registered in conftest.py); all gone after it."""

import os
import secrets
import shutil
import subprocess
import xmlrpc.client

import pytest
from conftest import _free_port
from e2e import ADDON, Poller, docker_ready, logs_of, make_addon_repo, remove_leftovers, run_worker, shell, sql
from psycopg2 import sql as pgsql

SLUG = "pitr-e2e"


def _production_server():
    return {"host": "127.0.0.1", "port": PITR["port"], "user": os.environ["OPS_DB_USER"],
            "password": PITR["password"]}


PITR = {}


def prod_sql(dbname, query, args=None):
    """SQL on production's cluster, as the control plane's role there."""
    # (a plugin loads before pytest-odoo gives Odoo its addons)
    from odoo.addons.ipai_ops_backup.services import pg_cluster  # noqa: PLC0415

    return pg_cluster.fetch(_production_server(), query, args or (), dbname=dbname)


def _build(server, branch):
    manager = server.rpc("e2e_manager")
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": branch})
    run_worker(server, projects=SLUG)
    run = manager("ops.run", "api_read", [queued["id"]])
    assert run["state"] == "succeeded", run["error_message"]
    return queued["environment_id"]


@pytest.fixture(name="pitr_cluster", scope="module")
def pitr_cluster_fixture(server, tmp_path_factory):
    """Production's cluster of this control plane, in a directory of the test's own, set up
    once the project's production runs on the shared server; all gone afterwards."""
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    remove_leftovers(SLUG)
    root = "/var/tmp/ops-pitr-e2e-%s" % secrets.token_hex(4)
    PITR.update(port=_free_port(), root=root)
    shell(server, 'env["ir.config_parameter"].set_param("ipai_ops.pitr_root", %r)\nenv.cr.commit()\n' % root)
    try:  # whatever fails from here on, the cluster and its directory go
        url = make_addon_repo(tmp_path_factory.mktemp("pitrgit"), branches=("release/pitr",), red_branch=None)
        uids = server.uids
        server.rpc("e2e_manager")("ops.project", "create", {
            "name": "PITR E2E", "slug": SLUG, "repo_url": url, "test_tags": "/%s" % ADDON, "mem_limit_mb": 1024,
            "member_ids": [(0, 0, {"user_id": uids["e2e_admin"], "role": "admin"}),
                           (0, 0, {"user_id": uids["e2e_dev"], "role": "developer"})]})
        # A production from before production's cluster: on the shared server.
        PITR["production"] = _build(server, "main")
        with pytest.raises(xmlrpc.client.Fault, match="Only Ops managers"):
            server.rpc("e2e_admin")("ops.pitr", "setup", PITR["port"])
        done = server.rpc("e2e_manager")("ops.pitr", "setup", PITR["port"], 60)
        assert done["backups"] >= 1, done
        # The production from before is named as moving with its next deploy.
        name = server.rpc("e2e_manager")("ops.environment", "read", [PITR["production"]], ["name"])[0]["name"]
        assert name in done["move_with_next_deploy"], done
        # The control plane's role on that cluster has a password of its own (a sealed parameter).
        PITR["password"] = shell(server, 'print("PW=" + env["ir.config_parameter"].get_param('
                                         '"ipai_ops.production_db_password"))\n').split("PW=")[1].strip()
        yield PITR
    finally:
        try:
            try:
                # The project's environments go through the product (their databases on that cluster too).
                manager = server.rpc("e2e_manager")
                envs = manager("ops.environment", "search", [("project_id.slug", "=", SLUG),
                                                             ("state", "!=", "destroyed")])
                for env_id in envs:
                    manager("ops.environment", "action_destroy", [env_id])
                if envs:
                    run_worker(server, projects=SLUG)
            finally:
                remove_leftovers(SLUG)
            # Later tests' productions stay on the shared server.
            shell(server, 'P = env["ir.config_parameter"]\nfor key in ("ipai_ops.production_db_port", '
                          '"ipai_ops.pitr_root", "ipai_ops.production_db_password", '
                          '"ipai_ops.pitr_superuser_password"):\n    P.set_param(key, False)\nenv.cr.commit()\n')
        finally:
            bindir = sorted(os.listdir("/usr/lib/postgresql"))[-1]
            subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/%s/bin/pg_ctl" % bindir, "-D",
                            root + "/data", "-m", "immediate", "stop"], cwd="/", capture_output=True, check=False)
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(name="pitr_project", scope="module")
def pitr_project_fixture(server, pitr_cluster):
    """The production made before the cluster, moved onto it by its next deploy while a
    visitor asks for its login page every 50 ms; then a staging built from it."""
    manager = server.rpc("e2e_manager")
    before = read_env(server, pitr_cluster["production"])
    assert before["db_cluster"] == "shared", before
    mark = secrets.token_hex(8)
    sql(before["database_name"], "INSERT INTO ir_config_parameter (key, value, create_date, write_date) "
                                 "VALUES ('pitr_e2e.before_move', %s, now(), now())", [mark])
    # A first attempt fails halfway: the cluster holds a database of that name that is not the environment's.
    squatter = pgsql.Identifier(before["database_name"])
    prod_sql("postgres", pgsql.SQL("CREATE DATABASE {}").format(squatter))
    with Poller(before["url"], timeout=60) as visitor:
        failed = manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "branch": "main"})
        run_worker(server, projects=SLUG)
        between = read_env(server, pitr_cluster["production"])
        prod_sql("postgres", pgsql.SQL("DROP DATABASE {}").format(squatter))
        queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "branch": "main"})
        run_worker(server, projects=SLUG)
    move = {"before": before, "mark": mark, "visitor": visitor, "between": between,
            "failed": manager("ops.run", "api_read", [failed["id"]]), "failed_log": logs_of(manager, failed["id"]),
            "run": manager("ops.run", "api_read", [queued["id"]]), "log": logs_of(manager, queued["id"])}
    return {"production": pitr_cluster["production"], "staging": _build(server, "release/pitr"), "move": move}


def read_env(server, env_id):
    return server.rpc("e2e_manager")("ops.environment", "read", [env_id], [
        "stage", "database_name", "url", "db_cluster", "data_source", "state", "container_id"])[0]
