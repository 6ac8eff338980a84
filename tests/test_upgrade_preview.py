"""From Odoo 17.0 to 18.0 to 19.0 for real: a 17.0 sales and stock
production (its demo data loaded through the platform's own shell) whose
addon the scan rewrites and a developer finishes on branch upgrade/18.0; the
preview migrates a copy of production with OpenUpgrade in the 18.0 image and
starts it as an environment, which then takes a fix in upgrade mode; the
production upgrade, first forced to fail (it rolls back to the 17.0
production), then for good; then the same for 19.0. Real Docker, PostgreSQL,
git and Odoo 17.0, 18.0 and 19.0 all the way."""

import subprocess
import threading
import time
import xmlrpc.client

import docker
import pytest
import requests
from e2e import docker_ready, env_secret, logs_of, ops, remove_leftovers, run_worker
from package_index import package_index
from upgrade_fixture import ADDON_17, OCA_MODULE, OCA_RELEASES, OCA_SCRIPT_18, make_production_repo, vendor_oca_wheel

SLUG = "upgp-e2e"
MAIN_ROWS = ("partners", "sale_orders", "pickings")
# What people made (a reload of the modules' demo data by a migration may drop some of theirs).
MINE = {"res.partner": [("name", "like", "Customer ")], "sale.order": [], "stock.picking": [], "acme.order": [],
        "date.range": []}


def cli_env(server, login):
    import os

    return dict(os.environ, OPS_URL=server.url, OPS_DB=server.db, OPS_LOGIN=login, OPS_API_KEY=server.keys[login])


def _git(*args, cwd):
    return subprocess.run(["git", "-c", "user.email=dev@acme.test", "-c", "user.name=dev", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


def _succeeded(server, run_id):
    run = server.rpc("e2e_manager")("ops.run", "read", [run_id], ["state", "error_message"])[0]
    assert run["state"] == "succeeded", (run["error_message"], logs_of(server.rpc("e2e_manager"), run_id)[-5000:])


def _show(production, branch, path):
    """A file of the project's repository on ``branch``."""
    return subprocess.run(["git", "-C", production["bare"], "show", "%s:%s" % (branch, path)], check=True,
                          capture_output=True, text=True).stdout


def _odoo(env_url, dbname, password):
    common = xmlrpc.client.ServerProxy(env_url + "/xmlrpc/2/common")
    uid = common.authenticate(dbname, "admin", password, {})
    models = xmlrpc.client.ServerProxy(env_url + "/xmlrpc/2/object")
    return common.version()["server_serie"], lambda *a, **k: models.execute_kw(dbname, uid, password, *a, k)


@pytest.fixture(scope="module")
def oca_index(server):
    """The OCA's date_range releases, as PyPI's JSON API says them (a local stand-in, for the scan)."""
    with package_index(server, {"odoo-addon-date-range": {"releases": {v: [] for v in OCA_RELEASES.values()}}}):
        yield


@pytest.fixture(scope="module")
def production(server, tmp_path_factory, ops_bin, oca_index):
    """A 17.0 production running the addon (and the OCA module it depends on),
    with demo data loaded by Odoo's own 'Load demo data' through `ops env
    shell --odoo`."""
    if not docker_ready():
        pytest.fail("the Docker engine is not running: scripts/setup.sh starts it (scripts/docker.sh)")
    remove_leftovers(SLUG)
    root = tmp_path_factory.mktemp("upgp")
    url, bare = make_production_repo(root)
    manager = server.rpc("e2e_manager")
    project_id = manager("ops.project", "create", {
        "name": "Upgrade preview E2E", "slug": SLUG, "repo_url": url, "odoo_version": "17.0",
        "mem_limit_mb": 2560, "cpu_limit": 2.0,
        "member_ids": [(0, 0, {"user_id": server.uids["e2e_admin"], "role": "admin"}),
                       (0, 0, {"user_id": server.uids["e2e_dev"], "role": "developer"})]})
    queued = manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "branch": "main"})
    run_worker(server, projects=SLUG)
    _succeeded(server, queued["id"])
    env_id = queued["environment_id"]
    shell = subprocess.run([ops_bin, "env", "shell", SLUG, "main", "--odoo", "-T"],
                           input="env['ir.demo'].install_demo()\nenv.cr.commit()\nprint('DEMO', env['sale.order']"
                                 ".search_count([]))\n", capture_output=True, text=True, timeout=900,
                           env=cli_env(server, "e2e_admin"))
    assert shell.returncode == 0 and "DEMO " in shell.stdout, (shell.stdout[-2000:], shell.stderr[-2000:])
    # ... and what people make: customers, a product, a confirmed order (its picking), over XML-RPC.
    env = manager("ops.environment", "read", [env_id], ["url", "database_name"])[0]
    call = _odoo(env["url"], env["database_name"], env_secret(server, env_id, "admin_password"))[1]
    partners = [call("res.partner", "create", [{"name": "Customer %d" % i}]) for i in range(3)]
    product = call("product.product", "create", [{"name": "Acme widget", "type": "product", "list_price": 12.5}])
    order = call("sale.order", "create", [{"partner_id": partners[0], "order_line": [
        (0, 0, {"product_id": product, "product_uom_qty": 2})]}])
    call("sale.order", "action_confirm", [[order]])
    call("acme.order", "create", [{"name": "A-1", "amount": 7.5, "sale_id": order}])
    kind = call("date.range.type", "create", [{"name": "Fiscal year"}])  # the OCA module's records
    call("date.range", "create", [{"name": "FY2026", "type_id": kind, "date_start": "2026-01-01",
                                   "date_end": "2026-12-31"}])
    assert call("stock.picking", "search_count", [[("origin", "=", call("sale.order", "read", [[order]],
                                                                      fields=["name"])[0]["name"])]]) == 1
    yield {"project_id": project_id, "env_id": env_id, "url": url, "bare": str(bare), "root": root}
    # The shared users leave the project (other tests count what they see).
    manager("ops.project.member", "unlink", manager("ops.project.member", "search",
                                                    [("project_id", "=", project_id)]))
    remove_leftovers(SLUG)


def _prod(server, production):
    env = server.rpc("e2e_manager")("ops.environment", "read", [production["env_id"]],
                                    ["url", "database_name", "odoo_version_running", "state",
                                     "previous_database_name"])[0]
    env["password"] = env_secret(server, production["env_id"], "admin_password")
    return env


def test_preview_migrates_a_copy_of_production(server, production):
    manager = server.rpc("e2e_manager")
    prod = _prod(server, production)
    assert prod["odoo_version_running"] == "17.0"
    serie, call = _odoo(prod["url"], prod["database_name"], prod["password"])
    assert serie == "17.0" and call("sale.order", "search_count", [[]]) > 0, "demo data in production"

    # No preview without a scan of the code for 18.0.
    with pytest.raises(xmlrpc.client.Fault, match="Scan the code"):
        manager("ops.project", "upgrade_preview", [production["project_id"]], "18.0")
    queued = server.rpc("e2e_dev")("ops.project", "upgrade_scan", [production["project_id"]], "18.0", True)
    run_worker(server, projects=SLUG)
    _succeeded(server, queued["id"])
    report = manager("ops.project", "upgrade_report", [production["project_id"]], "18.0", 500)
    assert {"cron_numbercall", "ustr"} <= {f["advisory"] for f in report["findings"]}
    # What will migrate each module production has installed, read from OpenUpgrade's scripts package.
    coverage = {row["module"]: row for row in report["report"]["coverage"]}
    assert report["report"]["coverage_of"] == "production" and {"sale", "stock", ADDON_17} <= set(coverage)
    assert (coverage["sale"]["kind"], coverage["sale"]["steps"]["18.0"]) == ("odoo", "done"), coverage["sale"]
    assert coverage[ADDON_17]["kind"] == "custom"
    assert coverage[OCA_MODULE]["steps"]["18.0"] == "release %s" % OCA_RELEASES["18.0"], coverage[OCA_MODULE]
    # The OCA wheel's pin moved to its 18.0 release in the patch, as the manifest moved to 18.0.
    assert "odoo-addon-date-range==%s" % OCA_RELEASES["18.0"] in _show(production, "upgrade/18.0", "requirements.txt")

    # With the customer's addon missing from the code (renamed), OpenUpgrade would exit 0 and leave it 'to
    # upgrade': the preview says so before it migrates anything, and names it.
    work = production["root"] / "dev"
    _git("clone", "-q", "--branch", "upgrade/18.0", production["url"], str(work), cwd=production["root"])
    # The repository ships its OCA wheels: the developer puts the 18.0 one the scan's pin names, whose own script
    # migrates the module's data.
    vendor_oca_wheel(work, "18.0")
    _git("add", "-A", cwd=work)
    _git("commit", "-qm", "date_range 18.0", cwd=work)
    _git("mv", ADDON_17, "acme_upgrade_elsewhere", cwd=work)
    _git("commit", "-qm", "the addon under another name", cwd=work)
    _git("push", "-q", "origin", "upgrade/18.0", cwd=work)
    queued = manager("ops.project", "upgrade_preview", [production["project_id"]], "18.0")
    run_worker(server, projects=SLUG)
    failed = manager("ops.run", "read", [queued["id"]], ["state", "error_message"])[0]
    assert failed["state"] == "failed" and "neither in Odoo 18.0 nor in the code (upgrade/18.0): %s." % ADDON_17 in (
        failed["error_message"]), failed
    kept = manager("ops.run", "read", [queued["id"]], ["upgrade_report"])[0]["upgrade_report"]
    assert kept["error"] in failed["error_message"], "the error is kept with the report"
    assert "with OpenUpgrade (code" not in logs_of(manager, queued["id"]), "said before the migration ran"
    _git("revert", "--no-edit", "HEAD", cwd=work)

    # A developer finishes what no tool fixes, on the upgrade branch.
    cron = work / ADDON_17 / "data" / "acme_cron.xml"
    cron.write_text("\n".join(line for line in cron.read_text().splitlines()
                              if "numbercall" not in line and "doall" not in line) + "\n")
    model = work / ADDON_17 / "models" / "acme_order.py"
    model.write_text(model.read_text().replace("ustr(self.name)", "str(self.name)"))
    _git("commit", "-qam", "Odoo 18: crons without numbercall, no ustr", cwd=work)
    _git("push", "-q", "origin", "upgrade/18.0", cwd=work)

    # Admins preview; developers may not (it copies production's data).
    with pytest.raises(xmlrpc.client.Fault, match="not allowed|may not"):
        server.rpc("e2e_dev")("ops.project", "upgrade_preview", [production["project_id"]], "18.0")
    queued = server.rpc("e2e_admin")("ops.project", "upgrade_preview", [production["project_id"]], "18.0")
    run_worker(server, projects=SLUG)
    _succeeded(server, queued["id"])
    report = manager("ops.project", "upgrade_report", [production["project_id"]], "18.0", 10)["preview"]["report"]
    step = report["steps"][0]
    modules = {m["module"]: m for m in step["modules"]}
    for name in ("base", "sale", "stock", ADDON_17):
        assert modules[name]["seconds"] is not False, (name, modules.get(name))
    assert any(s.startswith("pre-migration") or s.startswith("post-migration") for s in modules["sale"]["scripts"])
    assert modules["stock"]["scripts"], modules["stock"]
    # The OCA module's own migration script, shipped in its 18.0 wheel, ran in the migration.
    assert any(s.startswith(OCA_SCRIPT_18) for s in modules[OCA_MODULE]["scripts"]), modules[OCA_MODULE]
    for label in MAIN_ROWS:
        assert report["rows_before"][label]["own"] == report["rows_after"][label]["own"] > 0, (label, report)
    assert not report["rows_changed"]
    assert report["rows_before"]["users"]["own"] == report["rows_after"]["users"]["own"]
    assert report["predicted_downtime_seconds"] >= report["migration_seconds"] > 0

    # The migrated copy answers as an environment of its own, on 18.0, neutralized; production is untouched.
    env = manager("ops.environment", "read", [queued["environment_id"]],
                  ["branch", "stage", "state", "upgrade_to", "odoo_version_running", "url",
                   "database_name"])[0]
    assert (env["branch"], env["stage"], env["state"], env["upgrade_to"], env["odoo_version_running"]) == (
        "upgrade/18.0", "staging", "running", "18.0", "18.0"), env
    assert requests.get(env["url"] + "/web/login", timeout=30).status_code == 200
    serie, call = _odoo(env["url"], env["database_name"], env_secret(server, queued["environment_id"],
                                                                               "admin_password"))
    assert serie == "18.0"
    acme = call("ir.module.module", "search_read", [[("name", "=", ADDON_17)]], fields=["state", "latest_version"])
    assert acme[0]["state"] == "installed" and acme[0]["latest_version"].startswith("18.0.")
    assert call("ir.config_parameter", "get_param", ["database.is_neutralized"]) in ("True", "true", True)
    assert _odoo(prod["url"], prod["database_name"], prod["password"])[0] == "17.0"

    # Upgrade mode: a fix pushed on upgrade/18.0 goes onto the migrated copy (the code's modules updated in the
    # 18.0 image, no migration again), the data as the preview left it.
    orders = call("sale.order", "search_count", [[]])
    previewed = _git("rev-parse", "HEAD", cwd=work).strip()
    field = '    sale_id = fields.Many2one("sale.order")\n'
    model.write_text(model.read_text().replace(field, field + "    note = fields.Char()\n"))
    assert "note = fields.Char()" in model.read_text()
    _git("commit", "-qam", "acme orders get a note", cwd=work)
    _git("push", "-q", "origin", "upgrade/18.0", cwd=work)
    with pytest.raises(xmlrpc.client.Fault, match="moved since the preview"):
        server.rpc("e2e_admin")("ops.project", "upgrade_production", [production["project_id"]], "18.0")
    with pytest.raises(xmlrpc.client.Fault, match="does not run there"):
        manager("ops.run", "queue_run", {"project": SLUG, "kind": "deploy", "environment_id": env["id"]})
    built = server.rpc("e2e_admin")("ops.run", "queue_run", {"project": SLUG, "kind": "build",
                                                             "environment_id": env["id"]})
    run_worker(server, projects=SLUG)
    _succeeded(server, built["id"])
    log = logs_of(manager, built["id"])
    assert "Upgrade mode: updating the code's installed modules on the migrated copy (Odoo 18.0): %s" % ADDON_17 \
        in log and "with OpenUpgrade" not in log, log[-3000:]
    again = manager("ops.environment", "read", [env["id"]], ["state", "odoo_version_running", "database_name"])[0]
    assert (again["state"], again["odoo_version_running"]) == ("running", "18.0"), again
    call = _odoo(env["url"], again["database_name"], env_secret(server, env["id"], "admin_password"))[1]
    assert call("ir.model.fields", "search_count", [[("model", "=", "acme.order"), ("name", "=", "note")]]) == 1
    assert call("sale.order", "search_count", [[]]) == orders
    # Back to the previewed code: the production upgrade below runs what the preview migrated.
    _git("push", "-qf", "origin", "%s:upgrade/18.0" % previewed, cwd=work)


def _approve_and_run(server, production, kill_migration=False):
    """Approve the upgrade to 18.0 and run it with a real worker; ``kill_migration``:
    the migration's container is killed once it runs (a crash, an OOM kill),
    after production was stopped and copied."""
    run = server.rpc("e2e_admin")("ops.project", "upgrade_production", [production["project_id"]], "18.0")
    assert run["state"] == "waiting_approval", run
    since = int(time.time()) - 1
    server.rpc("e2e_admin")("ops.run", "approve_run", [run["id"]])
    worker = threading.Thread(target=run_worker, args=(server,), kwargs={"projects": SLUG})
    worker.start()
    if kill_migration:
        labels = ["ipai-ops.project=%s" % SLUG, "ipai-ops.run=%d" % run["id"], "ipai-ops.role=openupgrade"]
        client = docker.from_env()
        started = next(iter(client.events(decode=True, since=since, until=int(time.time()) + 600, filters={
            "type": "container", "event": "start", "label": labels})), None)
        assert started, "the migration's container never ran"
        client.containers.get(started["id"]).kill()
    worker.join(900)
    return server.rpc("e2e_manager")("ops.run", "read", [run["id"]], ["state", "error_message",
                                                                     "upgrade_report"])[0]


def test_failed_upgrade_rolls_back_to_the_17_production(server, production):
    before = _prod(server, production)
    rows = _odoo(before["url"], before["database_name"], before["password"])[1](
        "res.partner", "search_count", [[]])
    with pytest.raises(xmlrpc.client.Fault, match="not allowed|may not"):
        server.rpc("e2e_dev")("ops.project", "upgrade_production", [production["project_id"]], "18.0")
    run = _approve_and_run(server, production, kill_migration=True)
    assert run["state"] == "failed" and "migration to Odoo 18.0 failed" in run["error_message"] \
        and "exit code 137): killed" in run["error_message"], run
    after = _prod(server, production)
    assert (after["state"], after["database_name"], after["odoo_version_running"]) == (
        "running", before["database_name"], "17.0")
    serie, call = _odoo(after["url"], after["database_name"], after["password"])
    assert serie == "17.0" and call("res.partner", "search_count", [[]]) == rows
    project = server.rpc("e2e_manager")("ops.project", "read", [production["project_id"]], ["odoo_version"])[0]
    assert project["odoo_version"] == "17.0"


def test_upgrade_of_production(server, production, ops_bin):
    before = _prod(server, production)
    counts = {m: _odoo(before["url"], before["database_name"], before["password"])[1](
        m, "search_count", [domain]) for m, domain in MINE.items()}
    run = _approve_and_run(server, production)
    assert run["state"] == "succeeded", run["error_message"]
    after = _prod(server, production)
    assert after["odoo_version_running"] == "18.0" and after["previous_database_name"] == before["database_name"]
    serie, call = _odoo(after["url"], after["database_name"], after["password"])
    assert serie == "18.0"
    assert {m: call(m, "search_count", [domain]) for m, domain in MINE.items()} == counts
    assert counts["res.partner"] == 3
    project = server.rpc("e2e_manager")("ops.project", "read", [production["project_id"]],
                                        ["odoo_version", "tool_id", "upgrade_target"])[0]
    assert (project["odoo_version"], project["tool_id"][1], project["upgrade_target"]) == (
        "18.0", "Odoo 18.0", "19.0")
    report = run["upgrade_report"]
    assert report["downtime_seconds"] > 0 and report["predicted_downtime_seconds"] > 0
    # The finished upgrade's report stays: over XML-RPC and the CLI, now that the project is on 18.0.
    kept = server.rpc("e2e_dev")("ops.project", "upgrade_report", [production["project_id"]], "18.0")
    assert kept["done"] and (kept["from_version"], kept["upgrade"]["state"]) == ("17.0", "succeeded"), kept
    assert any("measured downtime" in line for line in kept["upgrade"]["lines"]), kept["upgrade"]["lines"]
    printed = ops(ops_bin, server, "e2e_admin", "upgrade", "report", SLUG, "--to", "18.0")
    assert printed.returncode == 0 and "Odoo 17.0 to 18.0 (done)" in printed.stdout, printed
    assert "step 17.0 to 18.0" in printed.stdout and "measured downtime" in printed.stdout, printed.stdout


def test_from_18_to_19(server, production):
    """The same customer, now on 18.0, previews 19.0: the scan reads the code production runs (upgrade/18.0, not
    main) and moves the addon's manifest to 19.0 on upgrade/19.0; the preview migrates a copy of production with
    OpenUpgrade's 19.0 scripts and starts it, with what people made on 17.0 there after both migrations, as a
    person reads it through Connect in the 19.0 backend. (Production's own upgrade to 19.0 runs on the swarm
    host, tests/test_swarm_serving_runs_there.py, through the same executor as the 17.0 -> 18.0 one above.)"""
    manager = server.rpc("e2e_manager")
    before = _prod(server, production)
    assert before["odoo_version_running"] == "18.0", "runs after test_upgrade_of_production"
    pid = production["project_id"]
    queued = server.rpc("e2e_dev")("ops.project", "upgrade_scan", [pid], "19.0", True)
    run_worker(server, projects=SLUG)
    _succeeded(server, queued["id"])
    report = manager("ops.project", "upgrade_report", [pid], "19.0", 500)
    assert report["scan"]["ref"] == "upgrade/18.0", report["scan"]
    manifest = _show(production, "upgrade/19.0", "%s/__manifest__.py" % ADDON_17)
    assert '"version": "19.0.1.0.0"' in manifest, manifest
    assert "odoo-addon-date-range==%s" % OCA_RELEASES["19.0"] in _show(production, "upgrade/19.0", "requirements.txt")
    coverage = {row["module"]: row for row in report["report"]["coverage"]}
    assert coverage["sale"]["steps"]["19.0"] in ("done", "nothing to do"), coverage["sale"]
    # A developer ships the OCA module's 19.0 wheel on the new branch (its 18.0 one would not install on 19.0).
    work = production["root"] / "dev19"
    _git("clone", "-q", "--branch", "upgrade/19.0", production["url"], str(work), cwd=production["root"])
    vendor_oca_wheel(work, "19.0")
    _git("add", "-A", cwd=work)
    _git("commit", "-qm", "date_range 19.0", cwd=work)
    _git("push", "-q", "origin", "upgrade/19.0", cwd=work)

    counts = {m: _odoo(before["url"], before["database_name"], before["password"])[1](m, "search_count", [d])
              for m, d in MINE.items()}
    queued = server.rpc("e2e_admin")("ops.project", "upgrade_preview", [pid], "19.0")
    run_worker(server, projects=SLUG)
    _succeeded(server, queued["id"])
    preview = manager("ops.environment", "read", [queued["environment_id"]],
                      ["branch", "state", "odoo_version_running", "url", "database_name"])[0]
    assert (preview["branch"], preview["state"], preview["odoo_version_running"]) == (
        "upgrade/19.0", "running", "19.0"), preview
    serie, call = _odoo(preview["url"], preview["database_name"], env_secret(server, queued["environment_id"],
                                                                             "admin_password"))
    assert serie == "19.0"
    acme = call("ir.module.module", "search_read", [[("name", "=", ADDON_17)]], fields=["state", "latest_version"])
    assert acme[0]["state"] == "installed" and acme[0]["latest_version"].startswith("19.0."), acme
    assert {m: call(m, "search_count", [d]) for m, d in MINE.items()} == counts
    # The customer's own field, made on 17.0, through two migrations.
    assert call("acme.order", "search_read", [[("name", "=", "A-1")]], fields=["amount"])[0]["amount"] == 7.5
    # ... and as a person reads them: through Connect, in the 19.0 backend's session.
    link = server.rpc("e2e_admin")("ops.environment", "connect", [queued["environment_id"]])
    web = requests.Session()
    landed = web.get(link["url"], timeout=60)
    assert landed.status_code == 200 and "/web/login" not in landed.url, (landed.url, landed.status_code)

    def call_kw(model, method, args, kwargs=None):
        answer = web.post("%s/web/dataset/call_kw/%s/%s" % (preview["url"], model, method), json={
            "jsonrpc": "2.0", "method": "call", "id": 1,
            "params": {"model": model, "method": method, "args": args, "kwargs": kwargs or {}}}, timeout=60).json()
        assert "result" in answer, answer
        return answer["result"]

    assert call_kw("acme.order", "search_read", [[("name", "=", "A-1")]], {"fields": ["amount"]})[0]["amount"] == 7.5
    assert {m: call_kw(m, "search_count", [d]) for m, d in MINE.items()} == counts
    assert _odoo(before["url"], before["database_name"], before["password"])[0] == "18.0", "production untouched"
