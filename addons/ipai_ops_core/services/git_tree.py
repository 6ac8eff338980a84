"""A commit's tree on disk: exported from a project's mirror (``export``,
``addon_dirs``), or written back as a new commit on a platform-owned branch
(``commit_tree``, ``push_commit``: the upgrade scan's fixes). The mirror, the
hardened ``git`` calls and the validation are :mod:`git_repo`'s."""

import contextlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading

from .git_repo import (
    _HARDENING,
    NETWORK_TIMEOUT,
    GitError,
    _commit_in_mirror,
    _git,
    _git_env,
    _kill_group,
    _last_lines,
    _validate_ref,
    _validate_sha,
)


def _safe_members(tar, dest):
    """Tar members from ``git archive``, refusing anything that would land outside ``dest``."""
    root = os.path.realpath(dest)
    for member in tar:
        name = member.name
        if os.path.isabs(name) or ".." in name.split("/"):
            raise GitError("Refusing to export %r: path outside the tree." % name, kind="export")
        if not (member.isfile() or member.isdir() or member.issym()):
            raise GitError("Refusing to export %r: unsupported file type." % name, kind="export")
        if member.issym():
            target = member.linkname
            resolved = os.path.realpath(os.path.join(root, os.path.dirname(name), target))
            if os.path.isabs(target) or os.path.commonpath([root, resolved]) != root:
                raise GitError(
                    "Refusing to export %r: symbolic link to %r points outside the tree." % (name, target),
                    kind="export",
                )
        yield member


def export(repo_url, sha, dest_dir, cache_dir, timeout=NETWORK_TIMEOUT):
    """Write the tree of commit ``sha`` into ``dest_dir`` and nothing else (no ``.git``).

    ``dest_dir`` must not exist or be empty. Uses ``git archive`` (with the
    repository's ``export-ignore`` / ``export-subst`` attributes neutralized)
    streamed into :mod:`tarfile`; absolute paths, ``..`` and symbolic links
    leaving the tree are refused. Submodules are not included. Returns the
    full sha exported. On failure ``dest_dir`` is left as it was found.
    """
    dest_dir = os.path.abspath(os.fspath(dest_dir))
    if os.path.lexists(dest_dir) and (not os.path.isdir(dest_dir) or os.listdir(dest_dir)):
        raise GitError("Export destination %s exists and is not an empty directory." % dest_dir, kind="export")
    path, full = _commit_in_mirror(repo_url, sha, cache_dir, timeout)
    created = not os.path.exists(dest_dir)
    os.makedirs(dest_dir, exist_ok=True)
    # The sha is a validated full hex sha; git archive takes no "--" before it.
    cmd = ["git", *_HARDENING, "--git-dir=%s" % path, "archive", "--format=tar", full]
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err_file,
                                env=_git_env(), cwd=path, start_new_session=True)
        timed_out = []

        def _watchdog():
            timed_out.append(True)
            _kill_group(proc)

        timer = threading.Timer(timeout, _watchdog)
        timer.daemon = True
        timer.start()
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(dest_dir, members=_safe_members(tar, dest_dir), **kwargs)
            while proc.stdout.read(65536):
                pass
            rc = proc.wait()
            if timed_out:
                raise GitError("git archive timed out after %s seconds." % timeout, kind="timeout")
            if rc != 0:
                err_file.seek(0)
                err = err_file.read().decode("utf-8", "replace")
                raise GitError("git archive of %s failed: %s" % (full, _last_lines(err)))
        except BaseException as exc:
            _kill_group(proc)
            proc.wait()
            _clear(dest_dir, remove=created)
            if isinstance(exc, GitError):
                raise
            if timed_out:
                raise GitError("git archive timed out after %s seconds." % timeout, kind="timeout") from exc
            if isinstance(exc, (tarfile.TarError, OSError)):
                raise GitError("Cannot export %s into %s: %s" % (full, dest_dir, exc), kind="export") from exc
            raise
        finally:
            timer.cancel()
            proc.stdout.close()
    return full


def _clear(directory, remove):
    if remove:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def addon_dirs(tree_dir):
    """Sorted names of the top-level directories of ``tree_dir`` holding a ``__manifest__.py``.

    The Odoo.sh layout: the repository root is an addons path. Hidden
    directories and symbolic links are ignored.
    """
    names = []
    with os.scandir(os.fspath(tree_dir)) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            manifest = os.path.join(entry.path, "__manifest__.py")
            if os.path.isfile(manifest) and not os.path.islink(manifest):
                names.append(entry.name)
    return sorted(names)


def commit_tree(repo_url, cache_dir, parent_sha, tree_dir, message, scratch_dir):
    """A commit of ``tree_dir``'s files whose parent is ``parent_sha`` (in
    the mirror), made in a scratch repository at ``scratch_dir``. Returns
    (its sha, the unified diff from the parent as bytes)."""
    parent = _validate_sha(parent_sha)
    mirror, full = _commit_in_mirror(repo_url, parent, cache_dir, NETWORK_TIMEOUT)
    _git(["init", "-q", "--bare", scratch_dir])
    _git(["fetch", "-q", "--no-tags", mirror, full], git_dir=scratch_dir)
    work = ["-c", "core.bare=false", "--work-tree=%s" % tree_dir]
    _git([*work, "read-tree", full], git_dir=scratch_dir)
    _git([*work, "add", "-A", "."], git_dir=scratch_dir)
    _rc, tree, _err = _git(["write-tree"], git_dir=scratch_dir)
    _rc, out, _err = _git(["-c", "user.name=ipai ops", "-c", "user.email=ops@ipai.invalid", "commit-tree",
                           tree.decode().strip(), "-p", full, "-m", message], git_dir=scratch_dir)
    sha = out.decode().strip()
    _rc, diff, _err = _git(["diff", "--no-color", "--no-ext-diff", full, sha], git_dir=scratch_dir)
    return sha, diff


def push_commit(repo_url, scratch_dir, sha, branch, protected=(), timeout=NETWORK_TIMEOUT):
    """Point ``branch`` of ``repo_url`` at ``sha`` (made by commit_tree),
    replacing what it held: for branches the platform owns only (never one
    of ``protected``)."""
    _validate_ref(branch)
    _validate_sha(sha)
    if branch in protected:
        raise GitError("Refusing to push to %s: it is one of the project's own branches." % branch, kind="push")
    _git(["push", "-q", repo_url, "+%s:refs/heads/%s" % (sha, branch)], git_dir=scratch_dir, timeout=timeout,
         url=repo_url)
