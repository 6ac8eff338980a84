"""The project's runtime image (one per Odoo version): there before a run
uses it, built offline from the version's source tree when it is missing
(scripts/build_runtime_image.sh), and what the environment records of it."""

import fcntl
import os
import subprocess

from ..services import odoo_versions
from .base import RunFailed

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts",
                      "build_runtime_image.sh")
BUILD_TIMEOUT = 3600


def environment_values(engine, image):
    """What an environment shows of the image it runs: the Odoo version and
    source commit the runtime image was labelled with."""
    labels = engine.image_labels(image) if image else {}
    return {"odoo_version_running": labels.get(odoo_versions.LABEL_VERSION) or False,
            "odoo_commit": labels.get(odoo_versions.LABEL_COMMIT) or False}


def ensure(spec, reporter, engine):
    """Make sure the project's runtime image is on the engine: build it from
    the version's tree when it is missing (once, whoever asks first). Returns
    its labels."""
    image = spec["tool_image"]
    if engine.image_id(image):
        return engine.image_labels(image)
    tool = spec.get("tool") or {}
    version, source = tool.get("odoo_version"), tool.get("source_dir")
    if not version or not source:
        raise RunFailed("The runtime image %s is not on Docker host %s, and its tool says no Odoo version to build "
                        "it from: build or load it on that host." % (image, spec.get("host") or "local"))
    os.makedirs(spec["work_root"], exist_ok=True)
    lock_path = os.path.join(spec["work_root"], "runtime-image-%s.lock" % odoo_versions.check(version))
    with open(lock_path, "w") as lock:
        reporter.log("info", "Runtime image %s is missing: building it offline from the Odoo %s tree at %s "
                             "(waiting for any other build of it first)" % (image, version, source))
        reporter.flush()
        fcntl.flock(lock, fcntl.LOCK_EX)
        if engine.image_id(image):
            reporter.log("info", "Runtime image %s was built meanwhile by another run" % image)
            return engine.image_labels(image)
        _build(spec, reporter, image, version, source)
    if not engine.image_id(image):
        raise RunFailed("Building the runtime image %s finished, yet the image is not on the engine." % image)
    return engine.image_labels(image)


def _build(spec, reporter, image, version, source):
    env = dict(os.environ)
    if spec.get("docker_url"):
        env["DOCKER_HOST"] = spec["docker_url"]
    command = [SCRIPT, "--version", version, "--source", source, "--image", image, "--work", spec["work_root"]]
    if tool_mirror := (spec.get("tool") or {}).get("debian_mirror"):
        command += ["--mirror", tool_mirror]
    last = []
    try:
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
            for line in proc.stdout:
                line = line.rstrip()
                reporter.log("info", line)
                last = (last + [line])[-5:]
            code = proc.wait(timeout=BUILD_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RunFailed("Building the runtime image %s failed: %s" % (image, exc)) from exc
    if code != 0:
        errors = [line for line in last if "error:" in line] or last[-1:]
        raise RunFailed("Building the runtime image %s failed: %s" % (
            image, (errors[-1].split("error:", 1)[-1].strip() if errors else "exit code %d" % code)))
