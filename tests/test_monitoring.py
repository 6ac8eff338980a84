"""Monitoring, collection: a known mix of requests sent to production (a
real Odoo in a real container) shows up in the minute's sample with exactly
those counts and a p95 close to what the client measured; CPU and memory
come from the container's cgroup, the database and filestore sizes from
PostgreSQL and disk, a health probe; who may read metrics follows the stage
matrix; a Docker 'die' event is recorded."""

import calendar
import json
import math
import os
import shutil
import subprocess
import time
import xmlrpc.client

import docker
import pytest
import requests
from conftest import PROD_SLUG
from e2e import answers_within, ops, run_monitor, shell, sql
from odoo.addons.ipai_ops_core.services import ports
from prometheus_client.parser import text_string_to_metric_families


def collect(server):
    """One pass of the real collector command (`odoo-bin ops-monitor --once`)."""
    assert run_monitor(server)["collected"] >= 1


def current(server, prod):
    return server.rpc("e2e_manager")("ops.environment", "read", [prod["id"]], ["internal_url", "container_id"])[0]


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * fraction)) - 1]


@pytest.fixture(scope="module")
def mix(server, prod, prod_members):
    """200 logins and 50 missing pages within one minute, through the front
    door (the container's port is on its own network), then collected once
    the minute is over."""
    collect(server)  # the collector's cursor starts at the end of the log
    base = prod["url"]  # through the front door: the tests talk to the loopback only
    if time.time() % 60 > 30:  # the whole mix within one minute
        time.sleep(61 - time.time() % 60)
    minute = int(time.time()) // 60 * 60
    session, timings = requests.Session(), []
    for index in range(250):
        path = "/web/login" if index % 5 else "/no/such/page-%d" % index
        started = time.monotonic()
        answer = session.get(base + path, timeout=30)
        timings.append((time.monotonic() - started) * 1000)
        assert answer.status_code == (200 if index % 5 else 404), (path, answer.status_code)
    assert int(time.time()) // 60 * 60 == minute, "the mix spilled over into the next minute"
    time.sleep(61 - time.time() % 60)  # the minute is over
    collect(server)
    return {"minute": minute, "timings": timings}


def sample_of(server, prod, minute, login="e2e_admin"):
    answer = server.rpc(login)("ops.environment", "metrics", [prod["id"]], since="15m")
    columns = answer["columns"]
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(minute))
    rows = [dict(zip(columns, point, strict=True)) for point in answer["points"] if point[0] == at]
    return rows[0] if rows else None, answer


def test_the_minute_shows_the_requests_sent(server, prod, mix):
    sample, answer = sample_of(server, prod, mix["minute"])
    assert sample, answer["points"][-3:]
    assert (sample["requests"], sample["req_2xx"], sample["req_4xx"], sample["req_5xx"]) == (250, 200, 50, 0), sample
    client_p95 = percentile(mix["timings"], 0.95)
    assert abs(sample["p95_ms"] - client_p95) <= 0.2 * client_p95 + 1, (sample["p95_ms"], client_p95)
    assert sample["concurrency"] == 1, "one client, one request at a time"
    assert sample["queries_per_request"] > 0 and 0 < sample["sql_share"] < 1, sample


def test_resources_come_from_the_container_and_the_database(server, prod, mix):
    answer = server.rpc("e2e_admin")("ops.environment", "metrics", [prod["id"]], since="15m")
    rows = [dict(zip(answer["columns"], point, strict=True)) for point in answer["points"]]
    measured = [row for row in rows if row["mem_bytes"]]
    assert measured, rows
    last = measured[-1]
    info = docker.from_env().containers.get(current(server, prod)["container_id"]).attrs["HostConfig"]
    assert last["mem_limit_bytes"] == info["Memory"] and 0 < last["mem_bytes"] < info["Memory"], last
    assert last["cpu_pct"] is not None and last["cpu_pct"] >= 0, last
    assert last["db_bytes"] > 1_000_000 and last["db_connections"] >= 1, last
    assert last["filestore_bytes"] > 0 and last["health_ms"] > 0, last
    assert answer["collecting_since"], answer


def test_the_fleet_overview_sorts_by_what_hurts(server, prod, mix):
    fleet = server.rpc("e2e_admin")("ops.metric.state", "search_read", [("environment_id.state", "=", "running")],
                                    ["environment_id", "cpu_pct", "mem_pct", "error_pct", "p95_ms", "health_ok",
                                     "spark_p95"], order="p95_ms desc")
    ours = [row for row in fleet if row["environment_id"][0] == prod["id"]]
    assert ours and ours[0]["health_ok"] and 0 < ours[0]["mem_pct"] < 100, fleet
    assert ours[0]["spark_p95"] and all(isinstance(v, (int, float)) for v in ours[0]["spark_p95"]), ours
    assert server.rpc("e2e_dev")("ops.metric.state", "search_count", [("environment_id", "=", prod["id"])]) == 0
    hint = server.rpc("e2e_admin")("ops.environment", "read", [prod["id"]], ["sizing_hint"])[0]["sizing_hint"]
    assert "a hint needs 60" in hint, "no hint from a few minutes of traffic: %s" % hint


def test_production_deploys_get_a_regression_report(server, prod, mix):
    """With a one-minute window (the default is an hour), every production
    deploy of this session is compared, posted on its run and the chatter."""
    manager = server.rpc("e2e_manager")
    deploys = manager("ops.run", "search_read", [("environment_id", "=", prod["id"]), ("kind", "=", "deploy"),
                                                 ("state", "=", "succeeded")], ["id", "finished_at"])
    last = max(calendar.timegm(time.strptime(d["finished_at"], "%Y-%m-%d %H:%M:%S")) for d in deploys)
    time.sleep(max(0, last + 62 - time.time()))  # the minute after the last deploy is over
    out = shell(server, "env['ir.config_parameter'].set_param('ipai_ops_monitoring.regression_window_minutes', '1')\n"
                        "print('REPORTS', env['ops.deploy.report']._cron_reports())\n"
                        "env['ir.config_parameter'].set_param('ipai_ops_monitoring.regression_window_minutes', False)\n"
                        "env.cr.commit()\n")
    assert "REPORTS [" in out, out
    reports = server.rpc("e2e_admin")("ops.deploy.report", "search_read", [("environment_id", "=", prod["id"])],
                                      ["run_id", "requests_before", "requests_after", "worse_routes"])
    assert deploys and {r["run_id"][0] for r in reports} == {d["id"] for d in deploys}, (deploys, reports)
    notes = manager("mail.message", "search_read", [("model", "=", "ops.environment"), ("res_id", "=", prod["id"]),
                                                    ("body", "ilike", "Deploy report for")], ["body"])
    assert len(notes) == len(reports), notes
    assert server.rpc("e2e_dev")("ops.deploy.report", "search_count", [("environment_id", "=", prod["id"])]) == 0


def test_the_cli_prints_the_series(server, prod, mix, ops_bin):
    printed = ops(ops_bin, server, "e2e_admin", "env", "metrics", PROD_SLUG, "main", "--since", "15m", "--json")
    assert printed.returncode == 0, printed
    answer = json.loads(printed.stdout)
    assert answer["step"] == "minute" and answer["points"], answer
    table = ops(ops_bin, server, "e2e_admin", "env", "metrics", PROD_SLUG, "main", "--since", "15m")
    assert table.returncode == 0 and "P95" in table.stdout.upper(), table


def test_only_admins_monitor_production(server, prod, prod_members, ops_bin):
    for login in ("e2e_dev", "e2e_tester"):
        with pytest.raises(xmlrpc.client.Fault, match="may not run 'monitoring' on production"):
            server.rpc(login)("ops.environment", "metrics", [prod["id"]])
        assert server.rpc(login)("ops.metric.sample", "search_count", [("environment_id", "=", prod["id"])]) == 0
    for bad, message in (({"since": "-5m"}, "is not a time"), ({"step": "second"}, "step is minute or hour"),
                         ({"since": "1h", "until": "2h"}, "since must be before until")):
        with pytest.raises(xmlrpc.client.Fault, match=message):
            server.rpc("e2e_admin")("ops.environment", "metrics", [prod["id"]], **bad)


def test_metrics_endpoint_follows_the_stage_matrix(server, prod, mix):
    url = server.url + "/metrics"
    assert requests.get(url, timeout=30).status_code == 401
    admin = requests.get(url, headers={"Authorization": "Bearer " + server.keys["e2e_admin"]}, timeout=30)
    assert admin.status_code == 200 and admin.headers["Content-Type"].startswith("text/plain"), admin.text[:300]
    labels = 'environment="main",project="%s",stage="production"' % PROD_SLUG
    assert "ipai_ops_memory_bytes{%s}" % labels in admin.text, admin.text[:2000]
    developer = requests.get(url, headers={"Authorization": "Bearer " + server.keys["e2e_dev"]}, timeout=30)
    assert developer.status_code == 200 and PROD_SLUG not in developer.text, "production is for admins"
    # Counters: every request the collector folded since it started collecting production (the mix's 200 and 50).
    assert "# TYPE ipai_ops_requests_total counter" in admin.text, admin.text[:2000]
    assert "# TYPE ipai_ops_oom_kills_total counter" in admin.text, admin.text[:2000]
    first = counters(admin.text)
    assert first[("requests", "2xx")] >= 200 and first[("requests", "4xx")] >= 50, first
    assert first[("requests", "5xx")] == 0 and first[("oom_kills", None)] >= 0, first
    collect(server)  # another collection: monotonic, never smaller
    again = counters(requests.get(url, headers={"Authorization": "Bearer " + server.keys["e2e_admin"]},
                                  timeout=30).text)
    assert again.keys() == first.keys() and all(again[key] >= first[key] for key in first), (first, again)


def counters(text):
    """{(family, status or None): value} of production's counters in a /metrics text."""
    found = {}
    for family in text_string_to_metric_families(text):
        if family.type != "counter":
            continue
        for sample in family.samples:
            if sample.labels.get("project") == PROD_SLUG and sample.labels.get("stage") == "production":
                assert sample.name == family.name + "_total", sample
                found[family.name[len("ipai_ops_"):], sample.labels.get("status")] = sample.value
    return found


def test_a_real_prometheus_scrapes_it(server, prod, mix, tmp_path):
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package is installed by scripts/setup.sh"
    port = ports.free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "ipai_ops", "metrics_path": "/metrics",
                            "authorization": {"type": "Bearer", "credentials": server.keys["e2e_admin"]},
                            "static_configs": [{"targets": [server.url.split("//", 1)[1]]}]}]}))
    proc = subprocess.Popen([binary, "--config.file", str(config), "--storage.tsdb.path", str(tmp_path / "data"),
                             "--web.listen-address", "127.0.0.1:%d" % port], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        collect(server)  # fresh figures within the endpoint's five minutes
        query = 'ipai_ops_memory_bytes{project="%s",stage="production"}' % PROD_SLUG
        deadline, result = time.monotonic() + 60, []
        while not result:
            assert time.monotonic() < deadline, "Prometheus never stored the series"
            time.sleep(1)
            try:
                answer = requests.get("http://127.0.0.1:%d/api/v1/query" % port, params={"query": query},
                                      timeout=5).json()
            except requests.RequestException:
                continue
            result = answer.get("data", {}).get("result", [])
        assert result[0]["metric"]["environment"] == "main" and float(result[0]["value"][1]) > 0, result
        up = requests.get("http://127.0.0.1:%d/api/v1/query" % port, params={"query": 'up{job="ipai_ops"}'},
                          timeout=5).json()["data"]["result"]
        assert up and up[0]["value"][1] == "1", up
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_killed_container_is_recorded_as_it_dies(server, prod, prod_members):
    """Docker's 'die' event of the production container (restarted by its
    policy) lands in ops.container.event at the next collection."""
    container = docker.from_env().containers.get(current(server, prod)["container_id"])
    os.kill(container.attrs["State"]["Pid"], 9)  # a crash (docker kill would count as stopped by hand)
    time.sleep(2)
    deadline = time.monotonic() + 60
    while docker.from_env().containers.get(container.id).status != "running":
        assert time.monotonic() < deadline, "the restart policy brings it back"
        time.sleep(0.5)
    collect(server)
    events = server.rpc("e2e_admin")("ops.container.event", "search_read", [("environment_id", "=", prod["id"])],
                                     ["action", "container_id", "exit_code"])
    assert any(e["action"] == "die" and e["container_id"] == container.id and e["exit_code"] == 137
               for e in events), events
    answers_within(prod["url"], 90)  # back to serving before the next tests


def test_a_rebuild_leaves_no_hole_in_the_charts(server, prod, mix):
    """A development or staging rebuild says "building" while its previous
    container still serves: the collector keeps collecting it; an
    environment "building" with no container up is skipped, not failed."""
    admin = server.rpc("e2e_admin")

    def read_at():
        states = admin("ops.metric.state", "search_read", [("environment_id", "=", prod["id"])], ["read_at"])
        return states[0]["read_at"]

    before = current(server, prod)
    try:
        sql(server.db, "UPDATE ops_environment SET state = 'building' WHERE id = %s", [prod["id"]])
        seen = read_at()
        collect(server)
        assert read_at() > seen, "the serving container of an environment being rebuilt is collected"
        sql(server.db, "UPDATE ops_environment SET container_id = %s WHERE id = %s", ["0" * 64, prod["id"]])
        seen = read_at()
        run_monitor(server)  # none failed
        assert read_at() == seen, "no container up: nothing to collect"
    finally:
        sql(server.db, "UPDATE ops_environment SET state = 'running', container_id = %s WHERE id = %s",
            [before["container_id"], prod["id"]])
