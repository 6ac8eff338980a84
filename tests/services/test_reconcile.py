"""executors/reconcile.py against a real Docker engine and PostgreSQL: what
the reconciliation decides for each way a record and its container can
disagree, and the repair it makes (a production container started again)."""

import secrets
import time

import pytest
from odoo.addons.ipai_ops_core.executors import reconcile
from odoo.addons.ipai_ops_core.services import docker_engine, postgres
from odoo.addons.ipai_ops_core.tests.pg_helpers import pg_fixtures

admin, names = pg_fixtures()
IMAGE = "ipai-ops/odoo:18.0"  # any local image with a shell; the suite builds this one
LABELS = {"ipai-ops.plane": "reconcile-test", "ipai-ops.managed": "true"}
# Stops cleanly (exit 0) on docker stop, like Odoo does on SIGTERM.
SERVE = "trap 'exit 0' TERM; sleep 600 & wait"


@pytest.fixture(name="engine", scope="module")
def engine_fixture():
    try:
        engine = docker_engine.DockerEngine(timeout=60)
    except docker_engine.DockerError as exc:
        pytest.fail("the Docker engine is not running (scripts/docker.sh start): %s" % exc)
    if not engine.image_id(IMAGE):
        pytest.fail("%s is missing: scripts/setup.sh builds it" % IMAGE)
    yield engine
    for container in engine.containers(LABELS):
        engine.remove_container(container["id"])


@pytest.fixture(name="container")
def container_fixture(engine):
    def make(script=SERVE):
        name = "ops-reconcile-test-%s" % secrets.token_hex(4)
        return engine.start(IMAGE, [script], name, LABELS, entrypoint=["/bin/sh", "-c"], network="none")
    return make


def _env(container_id, state="running", stage="production", database_name=None):
    return {"id": 1, "stage": stage, "state": state, "container_id": container_id, "database_name": database_name}


def _wait_status(engine, ref, status, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine.container(ref)["status"] == status:
            return
        time.sleep(0.2)
    raise AssertionError("%s is %s, not %s" % (ref[:12], engine.container(ref)["status"], status))


def test_a_running_container_with_its_database_is_right(engine, container, admin, names):
    database, role = names("db"), names("role")
    postgres.ensure_role(admin, role, secrets.token_hex(8))
    postgres.create_database(admin, database, role)
    ref = container()
    assert reconcile.reconcile(_env(ref, database_name=database), engine, admin) is None


def test_a_stopped_production_container_is_started_again(engine, container, admin):
    ref = container()
    engine.stop(ref, timeout=10)
    assert engine.container(ref)["exit_code"] == 0
    finding = reconcile.reconcile(_env(ref), engine, admin)
    assert finding["values"] == {} and "started it again" in finding["message"], finding
    assert "exit code 0" in finding["message"]
    _wait_status(engine, ref, "running")


def test_a_stopped_development_container_is_marked_stopped_not_started(engine, container, admin):
    ref = container()
    engine.stop(ref, timeout=10)
    finding = reconcile.reconcile(_env(ref, stage="development"), engine, admin)
    assert finding["values"] == {"state": "stopped"} and "marked stopped" in finding["message"], finding
    assert engine.container(ref)["status"] == "exited"


def test_a_container_that_crashes_at_start_is_failed_not_restarted(engine, container, admin):
    ref = container("exit 3")
    _wait_status(engine, ref, "exited")
    finding = reconcile.reconcile(_env(ref, stage="staging"), engine, admin)
    assert finding["values"] == {"state": "failed"}, finding
    assert "exit code 3" in finding["message"] and "not started again" in finding["message"]
    assert engine.container(ref)["status"] == "exited"


def test_a_gone_container_or_database_fails_the_environment(engine, container, admin, names):
    ref = container()
    engine.remove_container(ref)
    finding = reconcile.reconcile(_env(ref), engine, admin)
    assert finding["values"] == {"state": "failed"} and "is gone" in finding["message"], finding
    ref = container()
    missing = names("never_made")
    finding = reconcile.reconcile(_env(ref, database_name=missing), engine, admin)
    assert finding["values"] == {"state": "failed"} and missing in finding["message"], finding


def test_a_stopped_environment_whose_container_runs_is_running(engine, container, admin):
    ref = container()
    finding = reconcile.reconcile(_env(ref, state="stopped"), engine, admin)
    assert finding["values"] == {"state": "running"}, finding
    engine.stop(ref, timeout=10)
    assert reconcile.reconcile(_env(ref, state="stopped"), engine, admin) is None


def test_environments_no_run_made_are_left_alone(engine, admin):
    for state in ("new", "building", "failed", "destroyed"):
        assert reconcile.reconcile(_env("0" * 64, state=state), engine, admin) is None
