"""A swarm of engines on this machine for the swarm backend's tests
(scripts/swarm-lab.sh): each engine in a network namespace of its own,
never the machine's own engine. The fixture ``swarm_lab``
(tests/conftest.py) brings it up once for the session."""

import io
import os
import pathlib
import shutil
import subprocess
import tarfile

import pytest
from e2e import filestore_root

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAB = ROOT / "scripts/swarm-lab.sh"
PROBE_IMAGE = "ipai-ops/swarm-probe:1"  # busybox: a shell, httpd, wget, nslookup, nc, ip
PLANE = "swarmtest"
OWN_DISK = os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "swarm-lab", "disk2")  # scripts/swarm-lab.sh


def command(*args, env=None):
    """scripts/swarm-lab.sh ARGS; the engines it lists ([url, address])."""
    done = subprocess.run(["bash", str(LAB), *args], capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, **(env or {})))
    assert done.returncode == 0, "swarm-lab.sh %s failed: %s" % (" ".join(args), done.stderr[-2000:])
    return [line.split() for line in done.stdout.splitlines() if line.startswith("unix://")]


def _probe_rootfs():
    """A tiny image's root: busybox (a shell, httpd, wget, nslookup, nc, ip) and nothing else."""
    busybox = shutil.which("busybox")
    if not busybox:
        pytest.fail("busybox-static is missing: scripts/setup.sh installs it")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(busybox, "bin/busybox")
        for applet in ("sh", "httpd", "wget", "nslookup", "cat", "stat", "sleep", "timeout", "echo", "id", "ls", "nc",
                       "ip"):
            info = tarfile.TarInfo("bin/%s" % applet)
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        for name, data in (("etc/passwd", b"root:x:0:0:root:/:/bin/sh\nodoo:x:101:101::/:/bin/sh\n"),
                           ("etc/group", b"root:x:0:\nodoo:x:101:\n"), ("www/index.html", b"probe\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for directory in ("tmp", "run/secrets", "etc/app"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(info)
    return buf.getvalue()


def up(own_disk=None):
    """Two engines; the first a swarm's manager with the probe image. The
    second joins in test_swarm_engine's multi-node test; it has a disk of
    its own where the test server (or the control plane whose filestore
    root is ``own_disk``) keeps the environments' data directories
    (OWN_DISK: what a second machine's disk would be)."""
    from odoo.addons.ipai_ops_core.services import runtime  # noqa: PLC0415 - Odoo's addons load with pytest-odoo

    engines = command("up", "2", env={"OPS_SWARM_LAB_OWN_DISK": own_disk or filestore_root()})
    try:
        manager = runtime.connect(engines[0][0], kind="swarm", timeout=300)
        assert manager.init_swarm(engines[0][1], address_pool="10.252.0.0/16") is True
        manager.client.api.import_image_from_data(_probe_rootfs(), repository=PROBE_IMAGE.split(":")[0], tag="1",
                                                  changes=["ENV PATH=/bin", 'CMD ["/bin/sh"]'])
        assert manager.image_id(PROBE_IMAGE)
    except BaseException:
        down()
        raise
    return {"manager": manager, "engines": engines}


def down():
    command("down")


RUNTIME_IMAGE = "ipai-ops/odoo:18.0"  # the suite builds it (scripts/setup.sh)


def runtime_image(lab, image=RUNTIME_IMAGE):
    """A runtime image (default: 18.0's) on the lab's manager, copied from this machine's engine the first time."""
    from odoo.addons.ipai_ops_core.services import runtime  # noqa: PLC0415 - Odoo's addons load with pytest-odoo

    local = runtime.connect(timeout=900)
    if not local.image_id(image):
        pytest.fail("%s is missing on this machine's engine: scripts/setup.sh builds 18.0's, a first run of a "
                    "version its other ones" % image)
    local.copy_image(image, lab["manager"])
    return image


def worker(lab, images=(PROBE_IMAGE,)):
    """The lab's second engine, joined as a worker named w1 (joined once for the session), with ``images``."""
    from odoo.addons.ipai_ops_core.services import runtime  # noqa: PLC0415 - Odoo's addons load with pytest-odoo

    manager = lab["manager"]
    (url, address) = lab["engines"][1]
    engine = runtime.connect(url, kind="swarm", timeout=900)
    if engine.swarm_state()[0] != "active":
        token, manager_address = manager.join_token()
        engine.join(manager_address, token, address)
        manager.name_node("ipai-sw2", "w1")
    for image in images:
        manager.copy_image(image, engine)
    return engine
