"""Imports from outside: a dump that tries to run a command on the host is
refused before anything runs, and an upload is judged (caller, role, CSRF
token of a browser session) before its body is read."""

import json
import os
import zipfile

import pytest
import requests
from e2e import docker_ready, make_addon_repo, ops, remove_leftovers, run_worker, shell, sql

SLUG = "imp-e2e"


def worker(server):
    run_worker(server, projects=SLUG)


def env_of(server, env_id):
    return server.rpc("e2e_manager")("ops.environment", "read", [env_id],
                                     ["database_name", "url", "state", "container_id"])[0]


@pytest.fixture(scope="module")
def envs(server, tmp_path_factory):
    """A development environment built from a small addon, and a production
    environment (not built: imports never go there)."""
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    remove_leftovers(SLUG)
    repo = make_addon_repo(tmp_path_factory.mktemp("impgit"), branches=("feature-import",), red_branch=None)
    manager, uids = server.rpc("e2e_manager"), server.uids
    project_id = manager("ops.project", "create", {
        "name": "Import E2E", "slug": SLUG, "repo_url": repo, "mem_limit_mb": 1024,
        "member_ids": [(0, 0, {"user_id": uids["e2e_admin"], "role": "admin"}),
                       (0, 0, {"user_id": uids["e2e_dev"], "role": "developer"})]})
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "build", "branch": "feature-import"})
    worker(server)
    assert manager("ops.run", "api_read", [queued["id"]])["state"] == "succeeded"
    prod = manager("ops.environment", "create", {"project_id": project_id, "branch": "main"})
    yield {"dev": queued["environment_id"], "prod": prod, "project_id": project_id}
    remove_leftovers(SLUG)


def _import_root(server):
    out = shell(server, 'print("ROOT", env["ops.backup"]._import_root())\n')
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("ROOT ")][0]


def test_hostile_dumps_are_refused_and_change_nothing(server, envs, ops_bin, tmp_path):
    """dump.sql is never given to psql: meta-commands (which would run on the
    control plane's host) and COPY ... PROGRAM are refused before anything
    runs; the environment keeps its database; no file appears."""
    manager = server.rpc("e2e_manager")
    dev = {"id": envs["dev"]}
    before = env_of(server, dev["id"])
    assert before["state"] == "running"
    head = "SET client_encoding = 'UTF8';\nCREATE TABLE x_import (a text);\n"
    forms = {
        "shell": "\\! touch {marker}\n",
        "connect": "\\connect postgres\nCREATE TABLE x_elsewhere (a int);\n",
        "copy_program": "\\copy x_import from program 'touch {marker}'\n",
        "server_program": "COPY x_import FROM PROGRAM 'touch {marker}';\n",
    }
    runs = {}
    for name, body in forms.items():
        marker = tmp_path / ("pwned-%s" % name)
        target = tmp_path / ("%s.zip" % name)
        with zipfile.ZipFile(target, "w") as zf:
            zf.writestr("dump.sql", head + body.format(marker=marker) + "INSERT INTO x_import VALUES ('after');\n")
            zf.writestr("manifest.json", json.dumps({"odoo_dump": "1", "version": "18.0"}))
        queued = ops(ops_bin, server, "e2e_admin", "backup", "import", str(target), "--environment-id",
                     str(dev["id"]), "--json")
        assert queued.returncode == 0, queued.stderr
        runs[name] = (json.loads(queued.stdout)["id"], marker)
    worker(server)
    for name, (run_id, marker) in runs.items():
        run = manager("ops.run", "api_read", [run_id])
        assert run["state"] == "failed", (name, run)
        assert "dump.sql refused" in run["error_message"] and "line 3" in run["error_message"], run["error_message"]
        assert not marker.exists(), "%s: a command ran on the host" % name
    after = env_of(server, dev["id"])
    assert (after["database_name"], after["state"]) == (before["database_name"], "running")
    assert not sql(after["database_name"], "SELECT 1 FROM pg_class WHERE relname = 'x_import'")
    assert not sql("postgres", "SELECT 1 FROM pg_class WHERE relname = 'x_elsewhere'")
    assert requests.get(after["url"] + "/web/login", timeout=30).status_code == 200


def test_uploads_are_judged_before_their_body_is_read(server, envs):
    """A refused caller gets its answer while most of the upload is still
    unsent, and nothing is stored; browser sessions need the CSRF token."""
    import http.client
    import re
    from urllib.parse import urlparse

    dev = {"id": envs["dev"]}
    root = _import_root(server)
    stored = set(os.listdir(root))
    host = urlparse(server.url)

    def post(headers, query, size=50 * 1024 * 1024):
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        conn.putrequest("POST", "/ipai_ops/backup/import?" + query)
        for key, value in dict({"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(size)},
                               **headers).items():
            conn.putheader(key, value)
        conn.endheaders()
        conn.send(b"PK" + b"\0" * 1022)  # 1 KiB of the announced 50 MiB, then wait for the answer
        response = conn.getresponse()
        status, body = response.status, response.read().decode()
        conn.close()
        return status, body

    for login, query, status in (("e2e_dev", "environment_id=%d" % dev["id"], 403),
                                 ("e2e_outsider", "environment_id=%d" % dev["id"], 403),
                                 ("e2e_admin", "environment_id=%d" % envs["prod"], 400),
                                 ("e2e_admin", "environment_id=abc", 400)):
        answered, body = post({"Authorization": "Bearer %s" % server.keys[login]}, query)
        assert answered == status, (login, query, answered, body)
        assert "error" in json.loads(body)
    assert set(os.listdir(root)) == stored, "a refused upload left something on disk"

    # A browser session: refused without Odoo's CSRF token, let through with it.
    session = requests.Session()
    login = session.post(server.url + "/web/session/authenticate", json={"jsonrpc": "2.0", "params": {
        "db": server.db, "login": "e2e_admin", "password": "e2e_admin"}}, timeout=30)
    assert login.json().get("result", {}).get("uid") == server.uids["e2e_admin"], login.text
    browser = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin",
               "Sec-Fetch-User": "?1", "Cookie": "session_id=%s" % session.cookies["session_id"]}
    answered, body = post(browser, "environment_id=%d" % dev["id"])
    assert answered == 403 and "CSRF" in body, body
    page = session.get(server.url + "/odoo", timeout=60).text
    token = re.search(r'csrf_token: "([0-9a-f]+o[0-9]*)"', page).group(1)
    not_zip = requests.post(server.url + "/ipai_ops/backup/import", params={"environment_id": dev["id"]},
                            files={"file": ("x.zip", b"not a zip")}, headers=dict(browser, **{"X-CSRF-Token": token}),
                            timeout=60)
    assert not_zip.status_code == 400 and "not a zip" in not_zip.json()["error"], not_zip.text
    assert set(os.listdir(root)) == stored
