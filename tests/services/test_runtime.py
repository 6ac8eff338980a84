"""services/runtime.py: the one door to the engine. No executor, model or
controller speaks to the Docker SDK; the docker backend does what the
interface promises against the real engine (networks, commands in a
running container, events, the machine)."""

import ast
import os
import pathlib
import secrets
import time

import pytest
from odoo.addons.ipai_ops_core.executors import node_files
from odoo.addons.ipai_ops_core.services import docker_engine, runtime
from odoo.addons.ipai_ops_core.services.docker_trees import MissingTree

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = "ipai-ops/odoo:18.0"  # any local image with a shell; the suite builds this one
BACKENDS = {ROOT / "addons/ipai_ops_core/services" / name
            for name in ("docker_engine.py", "swarm_engine.py", "swarm_cluster.py", "swarm_files.py",
                         "swarm_exec.py", "docker_trees.py", "swarm_jobs.py")}


def _sources():
    for path in sorted((ROOT / "addons").rglob("*.py")):
        if "tests" not in path.relative_to(ROOT / "addons").parts and path not in BACKENDS:
            yield path


def test_only_the_backend_speaks_to_the_sdk():
    """Executors, models, controllers and services go through the runtime:
    none imports the docker SDK or reaches for a backend's SDK client."""
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(name == "docker" or name.startswith("docker.") for name in names):
                offenders.append("%s:%d imports %s" % (path.relative_to(ROOT), node.lineno, names))
            if isinstance(node, ast.Attribute) and node.attr == "client" and isinstance(node.value, ast.Name) \
                    and "engine" in node.value.id:
                offenders.append("%s:%d uses %s.client" % (path.relative_to(ROOT), node.lineno, node.value.id))
            if isinstance(node, ast.Attribute) and node.attr == "DockerEngine":
                offenders.append("%s:%d builds a DockerEngine (runtime.connect / for_spec)"
                                 % (path.relative_to(ROOT), node.lineno))
    assert not offenders, "\n".join(offenders)


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(runtime.RuntimeFailure, match="Unknown runtime 'nomad': one of docker"):
        runtime.for_spec({"runtime_kind": "nomad"})
    assert isinstance(runtime.for_spec({}), runtime.Runtime)


@pytest.fixture(name="engine", scope="module")
def engine_fixture():
    try:
        engine = runtime.connect(timeout=60)
    except runtime.RuntimeFailure as exc:
        pytest.fail("the Docker engine is not running (scripts/docker.sh start): %s" % exc)
    if not engine.image_id(IMAGE):
        pytest.fail("%s is missing: scripts/setup.sh builds it" % IMAGE)
    return engine


def _helpers_left(engine, prefix, labels):
    """This test's helper containers still on the engine (another suite may share the engine)."""
    return engine.client.containers.list(all=True, filters={"name": prefix,
                                                            "label": ["%s=%s" % item for item in labels.items()]})


@pytest.fixture(name="labels")
def labels_fixture(engine):
    labels = runtime.labels_for("rt%s" % secrets.token_hex(3), environment=7)
    yield labels
    for container in engine.containers(labels):
        engine.remove_container(container["id"])
    for name in engine.network_names(labels):
        engine.remove_network(name)


def test_network_made_listed_and_removed(engine, labels):
    name = "ipai-rt-%s" % labels["ipai-ops.plane"]
    engine.create_network(name, labels, "10.231.77.0/28", "10.231.77.1", "10.231.77.8/29", internal=True)
    with pytest.raises(runtime.RuntimeFailure, match="Cannot create network"):
        engine.create_network(name + "b", labels, "10.231.77.0/28", "10.231.77.1", "10.231.77.8/29")
    info = engine.network(name)
    assert info["subnet"] == "10.231.77.0/28" and info["internal"] and info["labels"] == labels
    assert "10.231.77.0/28" in engine.subnets_in_use()
    assert engine.network_names({"ipai-ops.plane": labels["ipai-ops.plane"], "ipai-ops.environment": None}) == [name]
    unit = engine.start(IMAGE, ["sleep", "600"], "ipai-rt-%s" % labels["ipai-ops.plane"], labels, network=name,
                        entrypoint=["/usr/bin/env"])
    assert engine.network(name)["containers"] == [unit]
    with pytest.raises(runtime.RuntimeFailure, match="Cannot remove network"):
        engine.remove_network(name)  # something is attached
    engine.remove_container(unit)
    assert engine.remove_network(name) and engine.network(name) is None and not engine.remove_network(name)


def test_command_in_a_running_unit_and_its_events(engine, labels):
    """What a shell does (a command with its input and output, its exit code)
    and what the collector reads (the unit's death, with its labels)."""
    started = time.time() - 1
    unit = engine.start(IMAGE, ["sleep", "600"], "ipai-rt-%s" % labels["ipai-ops.plane"], labels, network="none",
                        entrypoint=["/usr/bin/env"])
    exec_id = engine.exec_create(unit, ["sh", "-c", "read line; echo got $line; exit 3"], stdin=True)
    sock = engine.exec_attach(exec_id)
    sock.sendall(b"hello\n")
    output = b""
    while b"got hello" not in output:
        chunk = sock.recv(4096)
        assert chunk, output
        output += chunk
    sock.close()
    deadline = time.monotonic() + 10
    while engine.exec_state(exec_id)["running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine.exec_state(exec_id) == {"running": False, "exit_code": 3}
    engine.exec_run(unit, ["sh", "-c", "echo bye > /tmp/bye"])
    assert engine.stop(unit, timeout=1)
    died = engine.events(started, time.time() + 1, ("die",), {"ipai-ops.plane": labels["ipai-ops.plane"]})
    assert [(e["action"], e["container"], e["labels"]["ipai-ops.environment"]) for e in died] == [("die", unit, "7")]
    cpus, memory = engine.machine()
    assert cpus >= 1 and memory > 512
    assert docker_engine.DockerError is runtime.RuntimeFailure


def test_a_directory_is_copied_engine_to_engine_with_its_owners(engine, labels, tmp_path):
    """What moves a data directory between two nodes' disks: streamed from
    a helper on one engine into a helper on the other (here twice the same
    engine: the stream is the same), owners, modes, links and a file larger
    than one chunk kept; what the target had stays; a missing source or
    image is a clear error and leaves no helper behind."""
    source, target = tmp_path / "src", tmp_path / "dst"
    (source / "filestore" / "db1" / "ab").mkdir(parents=True)
    big = os.urandom(3 * 1024 * 1024 + 17)
    (source / "filestore" / "db1" / "ab" / "abcdef").write_bytes(big)
    os.link(source / "filestore" / "db1" / "ab" / "abcdef", source / "filestore" / "db1" / "ab" / "linked")
    (source / "filestore" / "empty").mkdir()
    (source / "logs").mkdir()
    (source / "logs" / "odoo.log").write_text("a line\n")
    os.link(source / "logs" / "odoo.log", source / "logs" / "hard")
    os.symlink("odoo.log", source / "logs" / "link")
    os.chmod(source / "logs" / "odoo.log", 0o640)
    for folder, dirs, files in os.walk(source):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, 101, 101)
    (target / "kept").mkdir(parents=True)
    (target / "kept" / "file").write_text("mine")

    sent = engine.copy_tree(IMAGE, str(source), engine, str(target), labels)
    assert sent > len(big)
    assert (target / "filestore" / "db1" / "ab" / "abcdef").read_bytes() == big
    assert (target / "filestore" / "empty").is_dir() and (target / "kept" / "file").read_text() == "mine"
    log = target / "logs" / "odoo.log"
    assert (log.stat().st_uid, log.stat().st_gid, log.stat().st_mode & 0o777) == (101, 101, 0o640)
    assert os.readlink(target / "logs" / "link") == "odoo.log"
    assert (target / "logs" / "hard").stat().st_ino == log.stat().st_ino, "a hard link stays one file"
    assert (target.stat().st_uid, (target / "filestore" / "db1").stat().st_uid) == (101, 101)

    # Without its log (a move: the platform keeps the log): the archive filtered as it streams.
    bare = tmp_path / "bare"
    assert engine.copy_tree(IMAGE, str(source), engine, str(bare), labels, exclude=("logs",)) > len(big)
    copied = bare / "filestore" / "db1" / "ab"
    assert (copied / "abcdef").read_bytes() == big and (copied / "linked").stat().st_ino == (
        copied / "abcdef").stat().st_ino
    assert (bare / "filestore" / "empty").is_dir() and not (bare / "logs").exists()
    assert ((copied / "abcdef").stat().st_uid, bare.stat().st_uid, bare.stat().st_mode & 0o777) == (
        101, 101, source.stat().st_mode & 0o777)

    with pytest.raises(runtime.RuntimeFailure, match="Cannot mount .* on its engine"):
        engine.copy_tree("ipai-ops/no-such-image:1", str(source), engine, str(target), labels)
    with pytest.raises(MissingTree, match="missing is not on its engine's machine"):
        engine.copy_tree(IMAGE, str(tmp_path / "missing"), engine, str(target), labels)
    assert not (tmp_path / "missing").exists(), "nothing is made on the source's machine"
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(runtime.RuntimeFailure, match="Cannot copy .* to .*a-file"):
        engine.copy_tree(IMAGE, str(source), engine, str(tmp_path / "a-file"), labels)
    assert not _helpers_left(engine, "ipai-ops-tree-", labels)


class _Said:
    def __init__(self):
        self.lines = []

    def log(self, level, text):
        self.lines.append(text)


def test_productions_filestore_comes_from_its_nodes_disk_even_when_it_has_none(engine, labels, tmp_path):
    """A staging copy (or a point-in-time restore) of a production on a
    node's own disk: its filestore is copied from that node's engine (here
    the local engine stands for the node's) into the new database's, on
    the platform's disk; a database that never stored an attachment has
    none there, and gets an empty one."""
    spec = {"namespace": labels["ipai-ops.plane"], "project_slug": "rt", "environment_id": 7, "run_id": 1,
            "filestore_root": str(tmp_path / "platform")}
    source = tmp_path / "prod" / "db1"
    (source / "ab").mkdir(parents=True)
    (source / "ab" / "abcdef").write_bytes(b"an attachment")
    node = {"name": "w9", "docker_url": "unix:///var/run/docker.sock"}
    said = _Said()
    got = node_files.place_filestore(spec, engine, str(source), "db2", said, node)
    copied = tmp_path / "platform" / "rt" / "env-7" / "filestore" / "db2"
    assert got == {"files": None, "linked": 0} and (copied / "ab" / "abcdef").read_bytes() == b"an attachment"
    assert any("Copied the filestore from node w9 to the platform's disk" in line for line in said.lines), said.lines
    got = node_files.place_filestore(spec, engine, str(tmp_path / "prod" / "none"), "db3", said, node)
    bare = tmp_path / "platform" / "rt" / "env-7" / "filestore" / "db3"
    assert bare.is_dir() and not list(bare.iterdir())
    assert not (tmp_path / "prod" / "none").exists(), "nothing is made on the node's disk"
    linked = node_files.place_filestore(spec, engine, str(source), "db4", said)
    assert linked == {"files": 1, "linked": 1}, "both on the platform's disk: hard links"
    assert not _helpers_left(engine, "ipai-ops-tree-", labels)


def test_a_log_on_another_machine_is_taken_in_pieces_into_the_platforms_copy(engine, labels, tmp_path):
    """What keeps the log of a unit on a node with a disk of its own: a
    helper on that node's engine renames the file its Odoo appends to, the
    piece is read and appended to the platform's copy (indexed there), and
    removed at the next take; nothing is taken twice, a missing file is
    nothing to take, and a node that does not answer leaves its log
    there."""
    from odoo.addons.ipai_ops_core.services import env_log  # noqa: PLC0415 - Odoo's addons load with pytest-odoo

    node_dir, live_dir, store_dir = tmp_path / "node-env", tmp_path / "env" / "logs", tmp_path / "store"
    (node_dir / "logs").mkdir(parents=True)
    (tmp_path / "env").mkdir()
    for path in (node_dir, node_dir / "logs", tmp_path / "env"):
        os.chown(path, 101, 101)
    written = node_dir / "logs" / "odoo.log"
    line = "2026-12-05 10:00:%02d,000 1 INFO db odoo.modules.loading: line %d\n"
    written.write_text("".join(line % (n, n) for n in range(3)))
    os.chown(written, 101, 101)
    store = env_log.EnvLog(str(live_dir), str(store_dir),
                           pull=node_files.log_puller(lambda: engine, str(node_dir), labels))

    assert store.sync() == 3
    assert not written.exists() and (node_dir / "logs" / "odoo.log.1").exists(), "the piece waits for the next take"
    assert (live_dir.stat().st_uid, (live_dir / "odoo.log").stat().st_uid) == (101, 101), "Odoo's, as here"
    written.write_text(line % (3, 3))  # Odoo opened a new file
    assert store.sync() == 1 and os.listdir(node_dir / "logs") == ["odoo.log.2"], "the kept piece 1 removed"
    assert store.sync() == 0 and os.listdir(node_dir / "logs") == [], "nothing new, nothing taken twice"
    assert [entry["text"] for entry in store.read(limit=10)["lines"]] == [
        (line % (n, n)).strip() for n in range(4)]
    written.write_text(line % (4, 4))
    assert store.sync(pull_every=60) == 0 and written.exists(), "a reader within a minute of the last take waits"

    gone = env_log.EnvLog(str(live_dir), str(store_dir), pull=node_files.log_puller(
        lambda: runtime.connect("tcp://127.0.0.1:9", timeout=2), str(node_dir), labels))
    written.write_text(line % (4, 4))
    assert gone.sync() == 0 and written.exists(), "a node that does not answer keeps its log"
    assert not _helpers_left(engine, "ipai-ops-take-", labels)


def test_a_nodes_leftover_directories_go_and_the_platforms_own_never(engine, labels, tmp_path):
    """The collector's sweep of a node's own disk (executors/node_sweep.py,
    here through the local engine): an environment's directory that nothing
    changed lately is removed; one a copy is writing to stays; a link is
    not followed; the copies of tools of runs that are over go, those of
    runs in progress stay; and a disk that carries the platform's mark (a
    node whose storage was set to its own disk by mistake) loses
    nothing."""
    from odoo.addons.ipai_ops_core.executors import node_sweep  # noqa: PLC0415 - Odoo's addons load with pytest-odoo

    root = tmp_path / "node-disk"
    for env_id in (1, 2):
        (root / "shop" / ("env-%d" % env_id) / "filestore" / "db").mkdir(parents=True)
        (root / "shop" / ("env-%d" % env_id) / "filestore" / "db" / "f").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "shop" / "env-3").symlink_to(outside)
    url, wanted = "unix:///var/run/docker.sock", ["shop/env-1", "shop/env-2", "shop/env-3", "shop/env-4"]
    assert node_sweep.remove_dirs("w9", url, str(root), wanted, labels) == [], "all changed just now: a copy's"
    assert node_sweep.remove_dirs("w9", url, str(root), wanted, labels, quiet=0) == ["shop/env-1", "shop/env-2"]
    assert sorted(os.listdir(root / "shop")) == ["env-3"] and outside.is_dir()
    with pytest.raises(ValueError, match="Not an environment's directory"):
        node_sweep.remove_dirs("w9", url, str(root), ["../etc"], labels, quiet=0)
    # The copies of tools that runs left (their worker died): those of runs in progress stay, as does a link.
    tools = root / node_sweep.TOOLS_ROOT
    for run_id in (7, 8):
        (tools / ("run-%d" % run_id) / "0").mkdir(parents=True)
    (tools / "run-9").symlink_to(outside)
    assert node_sweep.remove_dirs("w9", url, str(root), [], labels, quiet=0) == [], "a destroy's removal: no copy"
    assert node_sweep.remove_dirs("w9", url, str(root), [], labels, runs_in_progress={8}) == [], "made just now"
    assert node_sweep.remove_dirs("w9", url, str(root), [], labels, quiet=0, runs_in_progress={"8"}) == [
        node_sweep.TOOLS_ROOT + "/run-7"]
    assert sorted(os.listdir(tools)) == ["run-8", "run-9"] and outside.is_dir()
    (root / "shop" / "env-5").mkdir()
    node_sweep.mark_platform_disk(str(root))
    with pytest.raises(runtime.RuntimeFailure, match="node w9 sees the platform's own data directory"):
        node_sweep.remove_dirs("w9", url, str(root), ["shop/env-5"], labels, quiet=0)
    assert (root / "shop" / "env-5").is_dir()
    assert not engine.client.containers.list(all=True, filters={"label": "ipai-ops.plane=%s" % labels[
        "ipai-ops.plane"]})
