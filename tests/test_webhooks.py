"""Git events: GitHub-style webhooks over real HTTP, and polling of a real repository."""

import hashlib
import hmac
import json
import subprocess

import pytest
import requests
from conftest import _odoo_cmd

REPO_URL = "https://git.example.com/acme/wh-shop.git"


@pytest.fixture(scope="module")
def hook(server):
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {"name": "Webhook Shop", "slug": "wh-shop", "repo_url": REPO_URL})
    manager("ops.project", "action_generate_webhook_secret", [project_id])
    secret = manager("ops.project", "read", [project_id], ["webhook_secret"])[0]["webhook_secret"]
    assert secret and len(secret) >= 32

    def send(event, payload, secret=secret, signature=None, raw=None, delivery="d-1"):
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
        if signature is None and secret:
            signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if signature:
            headers["X-Hub-Signature-256"] = signature
        return requests.post(server.url + "/ipai_ops/webhook", data=body, headers=headers, timeout=30)

    def runs(**domain):
        return manager("ops.run", "search_read", [("project_id", "=", project_id)] +
                       [(k, "=", v) for k, v in domain.items()], fields=["kind", "state", "commit_sha", "branch"])

    return {"send": send, "runs": runs, "manager": manager, "project_id": project_id}


def push(branch, sha, repo=REPO_URL, **extra):
    ssh = "git@git.example.com:%s" % repo.split("git.example.com/", 1)[1]
    return dict({"ref": "refs/heads/%s" % branch, "before": "1" * 40, "after": sha,
                 "repository": {"full_name": "acme/wh-shop", "clone_url": repo, "ssh_url": ssh}}, **extra)


def test_signatures_and_malformed_payloads_queue_nothing(hook):
    send, runs = hook["send"], hook["runs"]
    payload = push("feature/a", "a" * 40)
    assert send("push", payload, secret=None).status_code == 401
    assert send("push", payload, signature="sha256=" + "0" * 64).status_code == 403
    assert send("push", payload, secret="not-the-secret").status_code == 403
    assert send("push", None, raw=b"{not json").status_code == 400
    assert send("push", None, raw=b"[1, 2]").status_code == 400
    assert runs() == []


def test_ping_and_unknown_repository(hook):
    send = hook["send"]
    ping = send("ping", {"zen": "Keep it simple", "repository": {"clone_url": REPO_URL}})
    assert ping.status_code == 200 and ping.json()["projects"] == ["wh-shop"]
    # An unknown repository is answered exactly like a known one with a wrong
    # signature: the endpoint does not tell which repositories exist here.
    unknown = send("push", push("main", "b" * 40, repo="https://git.example.com/nobody/else.git"))
    wrong = send("push", push("main", "b" * 40), secret="not-the-secret")
    assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json()) == \
        (403, {"error": "signature does not match"})
    assert hook["runs"]() == []


def test_push_queues_by_stage_and_is_idempotent(hook):
    send, runs = hook["send"], hook["runs"]
    reply = send("push", push("feature/x", "c" * 40), delivery="d-2")
    assert reply.status_code == 200, reply.text
    assert "build" in reply.json()["results"]["wh-shop"]
    again = send("push", push("feature/x", "c" * 40), delivery="d-2-redelivered")
    assert again.status_code == 200
    builds = runs(kind="build")
    assert len(builds) == 1 and builds[0]["commit_sha"] == "c" * 40 and builds[0]["branch"] == "feature/x"
    prod = send("push", push("main", "d" * 40), delivery="d-3")
    assert prod.status_code == 200 and "deploy" in prod.json()["results"]["wh-shop"]
    deploys = runs(kind="deploy")
    assert len(deploys) == 1 and deploys[0]["branch"] == "main"
    env = hook["manager"]("ops.environment", "search_read", [("project_id", "=", hook["project_id"]),
                                                             ("branch", "=", "main")], fields=["stage"])
    assert env[0]["stage"] == "production"


def test_delete_destroys_development_environment_only(hook):
    send, runs = hook["send"], hook["runs"]
    send("push", push("feature/gone", "e" * 40), delivery="d-4")
    reply = send("delete", {"ref": "feature/gone", "ref_type": "branch", "repository": {"clone_url": REPO_URL}},
                 delivery="d-5")
    assert reply.status_code == 200 and "destroy" in reply.json()["results"]["wh-shop"]
    assert [r["branch"] for r in runs(kind="destroy")] == ["feature/gone"]
    kept = send("push", push("main", "0" * 40, deleted=True), delivery="d-6")
    assert "production environment" in kept.json()["results"]["wh-shop"]
    assert len(runs(kind="destroy")) == 1


def test_hostile_push_is_refused(hook):
    send, runs = hook["send"], hook["runs"]
    before = len(runs())
    for branch in ("$(touch /tmp/wh-pwned)", "a;rm -rf /", "../../etc"):
        assert send("push", push(branch, "f" * 40)).status_code == 400
    assert send("push", push("feature/ok", "not-a-sha")).status_code == 400
    assert len(runs()) == before


def test_polling_a_repository_without_webhooks(server, tmp_path):
    work, bare = tmp_path / "work", tmp_path / "poll.git"
    git = ["git", "-c", "user.email=p@p", "-c", "user.name=p"]
    subprocess.run(git + ["init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run(git + ["-C", str(work), "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    subprocess.run(git + ["-C", str(work), "branch", "feature/p"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {"name": "Polled", "slug": "poll-shop", "poll_git": True,
                                                   "repo_url": "file://%s" % bare})

    def poll():
        proc = subprocess.run(_odoo_cmd(server.db, "shell") + ["--no-http", "--log-level=warn"], text=True,
                              input="print('POLL', env['ops.project']._cron_poll_git())\nenv.cr.commit()\n",
                              capture_output=True, timeout=300)
        assert "POLL" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]

    def runs():
        return manager("ops.run", "search_read", [("project_id", "=", project_id)], fields=["kind", "branch"])

    poll()
    assert sorted((r["kind"], r["branch"]) for r in runs()) == [("build", "feature/p"), ("deploy", "main")]
    poll()
    assert len(runs()) == 2, "no change, nothing new"
    subprocess.run(["git", "-C", str(bare), "branch", "-D", "feature/p"], check=True, capture_output=True)
    poll()
    assert ("destroy", "feature/p") in [(r["kind"], r["branch"]) for r in runs()]


def test_commit_statuses_are_posted(server):
    """With a GitHub token, queued/running/finished runs become commit statuses
    (a local HTTP server stands in for GitHub's API)."""
    import http.server
    import threading

    calls = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append((self.path, self.headers["Authorization"], json.loads(body)))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    api = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    try:
        shell = ("env['ir.config_parameter'].set_param('ipai_ops.github_api_url', 'http://127.0.0.1:%d')\n"
                 "env.cr.commit()\nprint('SET')\n" % api.server_address[1])
        proc = subprocess.run(_odoo_cmd(server.db, "shell") + ["--no-http", "--log-level=warn"], text=True,
                              input=shell, capture_output=True, timeout=300)
        assert "SET" in proc.stdout, proc.stderr[-2000:]
        manager, worker = server.rpc("e2e_manager"), server.rpc("e2e_worker")
        manager("ops.project", "create", {"name": "Status Shop", "slug": "status-shop", "github_token": "t0ken",
                                          "repo_url": "https://github.com/acme/status-shop.git"})
        sha = "ab" * 20
        run = manager("ops.run", "queue_run", {"project": "status-shop", "kind": "stop", "branch": "feature/s",
                                               "commit_sha": sha, "priority": 1000})
        claimed = worker("ops.run", "claim_next_run", "status-worker", ["stop"], ["status-shop"])
        assert claimed["id"] == run["id"]
        worker("ops.run", "start_workflow_run", [run["id"]], worker_id="status-worker")
        worker("ops.run", "complete_workflow_run", [run["id"]], 1, "tests failed", worker_id="status-worker")
        for _ in range(50):
            if len(calls) >= 3:
                break
            threading.Event().wait(0.1)
        assert [c[2]["state"] for c in calls] == ["pending", "pending", "failure"], calls
        path, auth, body = calls[-1]
        assert path == "/repos/acme/status-shop/statuses/%s" % sha and auth == "Bearer t0ken"
        assert body["context"] == "ipai-ops/development" and "status-shop#" in body["description"]
    finally:
        api.shutdown()
