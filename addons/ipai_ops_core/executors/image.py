"""The code of a run: the commit resolved, its addons exported, the image
built FROM the project's runtime tool; or, for a promotion, the exact image
a staging build ran."""

import ast
import os
import shutil

from ..services import git_repo, git_tree, naming, odoo_versions, runtime
from . import network, odoo_steps, paths, runtime_image, swarm_images
from .base import RunFailed


def image_tag(spec, sha):
    branch = "".join(c if c.isalnum() else "-" for c in spec["branch"].lower()).strip("-")[:40] or "branch"
    return "ipai-ops/%s:%s-%s" % (spec["project_slug"], branch, sha[:12])


def tree_modules(spec, tree):
    """The modules a build installs, from an exported tree and the project's setting."""
    addons = git_tree.addon_dirs(tree)
    if spec["modules_mode"] == "list":
        return [m.strip() for m in (spec.get("module_list") or "").split(",") if m.strip()]
    if spec["modules_mode"] == "all":
        return ["all"] if not addons else addons
    return addons


def module_versions(tree, modules, series="18.0"):
    """{module: version} from the manifests of an exported tree (literal
    parsing, nothing executed); versions are normalised to <series>.x.y.z."""
    versions = {}
    for module in modules:
        path = os.path.join(tree, module, "__manifest__.py")
        try:
            with open(path) as fh:
                manifest = ast.literal_eval(fh.read())
            version = str(manifest.get("version") or "1.0")
        except (OSError, ValueError, SyntaxError, AttributeError):
            continue
        versions[module] = odoo_versions.manifest_version(series, version)
    return versions


def check_series(versions, series, ref):
    """Refuse addons written for another Odoo series than the project's (a
    17.0 addon on an 18.0 project: an upgrade branch not merged yet)."""
    foreign = sorted("%s (%s)" % (module, version) for module, version in versions.items()
                     if not version.startswith(series + "."))
    if foreign:
        raise RunFailed("%s holds addons written for another Odoo version than the project's %s: %s. After an "
                        "upgrade, merge the upgrade branch into it." % (ref, series, ", ".join(foreign)))


def build_image(spec, reporter, engine):
    """Resolve the commit, export it and build the environment's image FROM
    the project's runtime tool. Returns (sha, tag, image id, modules, versions)."""
    naming.validate_branch(spec["branch"])
    reporter.log("info", "Resolving %s in %s" % (spec.get("commit_sha") or spec["ref"], spec["repo_url"]))
    try:
        sha = git_repo.resolve(spec["repo_url"], spec.get("commit_sha") or spec["ref"], spec["git_cache"])
    except (git_repo.GitError, ValueError) as exc:
        raise RunFailed(str(exc)) from exc
    reporter.set_commit(sha)
    workdir = paths.work_dir(spec)
    shutil.rmtree(workdir, ignore_errors=True)
    tree = os.path.join(workdir, "addons")
    try:
        git_tree.export(spec["repo_url"], sha, tree, spec["git_cache"])
        modules = tree_modules(spec, tree)
        versions = module_versions(tree, modules, spec.get("odoo_version") or "18.0")
        check_series(versions, spec.get("odoo_version") or "18.0", spec.get("ref") or spec["branch"])
        reporter.log("info", "Commit %s: modules %s" % (sha[:12], ", ".join(modules) or "(none)"))
        reporter.check_canceled()
        tag = image_tag(spec, sha)
        labels = runtime_image.ensure(spec, reporter, engine)
        reporter.log("info", "Runtime: Odoo %s (source commit %s)" % (
            labels.get(odoo_versions.LABEL_VERSION) or "?", (labels.get(odoo_versions.LABEL_COMMIT) or "?")[:12]))
        with open(os.path.join(workdir, "Dockerfile"), "w") as fh:
            fh.write("FROM %s\nCOPY --chown=%d:%d addons/ /mnt/extra-addons/\n" % (
                spec["tool_image"], paths.ODOO_UID, paths.ODOO_UID))
            requirements = os.path.exists(os.path.join(tree, "requirements.txt"))
            if requirements:
                fh.write("USER root\nRUN pip3 install --break-system-packages -r /mnt/extra-addons/requirements.txt"
                         "\nUSER odoo\n")
        reporter.log("info", "Building image %s FROM %s" % (tag, spec["tool_image"]))
        # The requirements come from the internet: on the build network,
        # which reaches nothing of the host and no database. Else no network.
        said = []

        def on_line(line):
            reporter.log("debug", line)
            said[:] = (said + [line])[-20:]

        try:
            image_id = engine.build(workdir, tag, labels=odoo_steps.labels(spec, "image"), on_line=on_line,
                                    network_mode=network.build_network(spec, engine) if requirements else "none")
        except runtime.RuntimeFailure as exc:
            # pip's own words name the cause (a wheel for another series: "No matching distribution found for
            # odoo==17.0.*"; a package the index lacks); else Docker's
            errors = [line for line in said if line.startswith("ERROR")]
            raise RunFailed("Building the image failed%s: %s" % (
                " installing requirements.txt" if requirements else "",
                " / ".join(errors[-2:]) if errors else exc)) from exc
        reporter.artifact("image", tag, sha256=image_id.split(":", 1)[-1], content_type="application/vnd.docker.image")
        reporter.check_canceled()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    to_its_node(spec, engine, image_id, reporter)
    return sha, tag, image_id, modules, versions


def to_its_node(spec, engine, image_id, reporter):
    """On a swarm host, the image onto the node of the environment's unit
    (through the node's engine, unless it is there) as soon as it exists:
    a production's deploy or upgrade stops it later, and an Odoo image
    takes a quarter to half a minute to copy engine to engine, which would
    otherwise be downtime."""
    swarm_images.copy_to_node(spec, engine, image_id, spec.get("node"), reporter)


def tree_versions(spec, sha):
    """Modules and their versions at ``sha`` (for a promoted image, which is not rebuilt)."""
    workdir = paths.work_dir(spec, "versions")
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        git_tree.export(spec["repo_url"], sha, workdir, spec["git_cache"])
        modules = tree_modules(spec, workdir)
        return modules, module_versions(workdir, modules, spec.get("odoo_version") or "18.0")
    except (git_repo.GitError, ValueError) as exc:
        raise RunFailed(str(exc)) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def image_for(spec, reporter, engine):
    """(sha, image id, modules, versions): the promoted staging image as it
    is, or a new image of the run's commit."""
    if spec.get("promote_image"):
        image_id = engine.image_id(spec["promote_image"])
        if not image_id:
            raise RunFailed("The image to promote (%s) is no longer on this host." % spec["promote_image"])
        sha = spec.get("commit_sha")
        if not sha:
            raise RunFailed("A promotion needs the commit its image was built from.")
        reporter.set_commit(sha)
        modules, versions = tree_versions(spec, sha)
        reporter.log("info", "Promoting image %s (commit %s) as it ran in %s, not rebuilt" % (
            image_id, sha[:12], spec.get("promote_from") or "staging"))
        to_its_node(spec, engine, image_id, reporter)
        return sha, image_id, modules, versions
    sha, _tag, image_id, modules, versions = build_image(spec, reporter, engine)
    return sha, image_id, modules, versions
