"""Isolation, end to end: a production and a development build of one
project. The development container, with every credential it can see,
cannot open production's database; nobody logs in with admin/admin; no
password is on a command line or in `docker inspect`; a second project whose
database names used to collide with the first's leaves it alone."""

import json
import subprocess

import pytest
import requests
from e2e import admin_sql, docker_ready, env_secret, make_addon_repo, remove_leftovers, run_worker
from probes import probe_from

SLUG = "iso-e2e"


@pytest.fixture(scope="module")
def project(server, tmp_path_factory):
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    # "iso" + "e2e/feature/ok" made the same database name as "iso-e2e" +
    # "feature/ok" before names carried ids.
    repo = make_addon_repo(tmp_path_factory.mktemp("isogit"), branches=("feature/ok", "e2e/feature/ok"),
                           red_branch=None)
    remove_leftovers(SLUG)
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {"name": "Isolation E2E", "slug": SLUG, "repo_url": repo,
                                                   "mem_limit_mb": 1024})
    yield {"id": project_id, "slug": SLUG, "repo_url": repo}
    remove_leftovers(SLUG)


def test_development_code_cannot_reach_production(server, project):
    """A production and a development build of one project: the development
    container, with every credential it can see, cannot open production's
    database; nobody logs in with admin/admin; no password is on a command
    line; a second project whose names used to collide leaves both alone."""
    import xmlrpc.client

    import docker

    manager = server.rpc("e2e_manager")
    prod_q = manager("ops.run", "queue_run", {"project": project["slug"], "kind": "deploy", "branch": "main"})
    dev_q = manager("ops.run", "queue_run", {"project": project["slug"], "kind": "build", "branch": "feature/ok"})
    run_worker(server, projects=SLUG)  # both at once, as a worker takes them (its slots)
    for queued in (prod_q, dev_q):
        run = manager("ops.run", "api_read", [queued["id"]])
        assert run["state"] == "succeeded", run["error_message"]
    fields = ["url", "database_name", "db_role", "container_id", "stage"]
    prod = manager("ops.environment", "read", [prod_q["environment_id"]], fields)[0]
    dev = manager("ops.environment", "read", [dev_q["environment_id"]], fields)[0]
    assert (prod["stage"], dev["stage"]) == ("production", "development")
    assert prod["db_role"] != dev["db_role"], "one database role per environment"

    # From inside the development container: its own database opens, production's does not.
    probe = probe_from(dev["container_id"], dev["database_name"], prod["database_name"])
    assert probe["own"] == "ok", probe
    assert dev["db_role"] in probe["found"] and len(probe["target"]) >= 3, probe
    for user, outcome in probe["target"]:
        assert outcome != "CONNECTED", (user, probe)
        assert any(reason in outcome for reason in ("permission denied", "authentication failed",
                                                    "no password supplied", "no pg_hba.conf entry")), (user, outcome)

    # No admin/admin (nor demo/demo); the platform's own password works.
    for env, logins in ((prod, [("admin", "admin")]), (dev, [("admin", "admin"), ("demo", "demo")])):
        common = xmlrpc.client.ServerProxy("%s/xmlrpc/2/common" % env["url"])
        for login, password in logins:
            assert common.authenticate(env["database_name"], login, password, {}) is False, (env["stage"], login)
        own = env_secret(server, prod_q["environment_id"] if env is prod else dev_q["environment_id"],
                         "admin_password")
        assert common.authenticate(env["database_name"], "admin", own, {}) == 2

    # Who may connect sets a password of their own: the developer on development, not on production.
    developer = server.rpc("e2e_dev")
    manager("ops.project", "write", [project["id"]], {"member_ids": [(0, 0, {"user_id": server.uids["e2e_dev"],
                                                                            "role": "developer"})]})
    developer("ops.environment", "set_admin_password", [dev_q["environment_id"]], "chosen-by-the-dev")
    dev_common = xmlrpc.client.ServerProxy("%s/xmlrpc/2/common" % dev["url"])
    assert dev_common.authenticate(dev["database_name"], "admin", "chosen-by-the-dev", {}) == 2
    with pytest.raises(xmlrpc.client.Fault, match="may not run 'connect' on production"):
        developer("ops.environment", "set_admin_password", [prod_q["environment_id"]], "chosen-by-the-dev")

    # No password on a command line, in `ps` or in `docker inspect`.
    secrets = [env_secret(server, env_id, "db_password") for env_id in (prod_q["environment_id"],
                                                                         dev_q["environment_id"])]
    assert all(secrets) and secrets[0] != secrets[1]
    processes = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True).stdout
    assert "odoo" in processes
    client = docker.from_env()
    for container_id in (prod["container_id"], dev["container_id"]):
        attrs = client.containers.get(container_id).attrs
        shown = json.dumps([attrs["Config"].get("Cmd"), attrs["Config"].get("Env"), attrs["Args"]])
        assert "--db_password" not in shown
        for secret in secrets:
            assert secret not in shown
    for secret in secrets:
        assert secret not in processes, "a database password is visible in the process list"
    assert "--db_password" not in processes and "--smtp-password" not in processes, \
        "the control plane's own password, too, reaches Odoo through its environment"

    # A second project whose slug and branch gave iso-e2e's names before: its
    # build and destroy leave iso-e2e's databases alone.
    manager("ops.project", "create", {"name": "Iso", "slug": "iso", "repo_url": project["repo_url"],
                                      "mem_limit_mb": 1024})
    try:
        other = manager("ops.run", "queue_run", {"project": "iso", "kind": "build", "branch": "e2e/feature/ok"})
        run_worker(server, projects="iso")
        assert manager("ops.run", "api_read", [other["id"]])["state"] == "succeeded"
        other_db = manager("ops.environment", "read", [other["environment_id"]], ["database_name"])[0]
        assert other_db["database_name"] not in (prod["database_name"], dev["database_name"])
        manager("ops.environment", "action_destroy", [other["environment_id"]])
        run_worker(server, projects="iso")
        for env in (prod, dev):
            assert admin_sql("SELECT 1 FROM pg_database WHERE datname = '%s'" % env["database_name"]), env
            assert requests.get(env["url"] + "/web/login", timeout=30).status_code == 200
    finally:
        for container in docker.from_env().containers.list(all=True, filters={"label": "ipai-ops.project=iso"}):
            container.remove(force=True)
    for queued in (prod_q, dev_q):
        manager("ops.environment", "action_destroy", [queued["environment_id"]])
    run_worker(server, projects=SLUG)
