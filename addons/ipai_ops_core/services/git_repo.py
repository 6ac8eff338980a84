"""A project's git repository, through the ``git`` binary.

Plain values in (repository URL, ref, paths), plain values out. Every call
is an argument list (never a shell string), runs with a timeout, without a
terminal prompt and with only the file, git, http(s) and ssh transports
allowed. Every URL and ref is validated with :mod:`naming` before git runs.

Each repository URL gets a bare mirror (branches and tags only) under a cache
directory chosen by the caller; its directory name is the sha256 of the URL,
so the URL (which may carry credentials) never becomes a path.
"""

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

from . import naming

# Seconds. Network operations (clone, fetch) get the long one.
NETWORK_TIMEOUT = 900
LOCAL_TIMEOUT = 120
LOCK_TIMEOUT = 1800

_FULL_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_HARDENING = (
    "-c", "protocol.ext.allow=never",
    "-c", "protocol.fd.allow=never",
    "-c", "protocol.file.allow=always",
    "-c", "core.fsmonitor=false",
    "-c", "core.hooksPath=/dev/null",
    "-c", "credential.interactive=never",
    "-c", "gc.autoDetach=false",
)
# In $GIT_DIR/info/attributes, which takes precedence over the repository's
# own .gitattributes: `git archive` exports the commit's tree as it is.
_INFO_ATTRIBUTES = "* -export-ignore -export-subst\n"


class GitError(Exception):
    """A git operation failed; ``str(error)`` is meant for the user.

    ``kind`` says what went wrong: ``unreachable`` (the repository does not
    exist or cannot be reached), ``unknown_ref`` (no such branch, tag or
    commit), ``ambiguous`` (an abbreviated sha matching several objects),
    ``timeout``, ``export`` (the tree cannot be written safely) or ``failed``.
    """

    def __init__(self, message, kind="failed"):
        super().__init__(message)
        self.kind = kind


def redact_url(url):
    """The URL without its password (for messages and logs)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.password is None:
        return url
    netloc = "%s:***@%s" % (parts.username or "", parts.hostname or "")
    if parts.port:
        netloc += ":%d" % parts.port
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _git_env():
    env = dict(os.environ)
    env.update({
        "GIT_TERMINAL_PROMPT": "0",
        # Overrides any protocol.*.allow configuration: ext::, fd:: and
        # every other remote helper are refused.
        "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh",
        "LC_ALL": "C",
        "LANGUAGE": "C",
    })
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    env.pop("GIT_INDEX_FILE", None)
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=30")
    return env


def _validate_ref(ref):
    naming.validate_ref(ref)
    # naming's patterns end with "$", which also matches before a final newline.
    if not ref.isprintable() or ref != ref.strip():
        raise ValueError("Invalid ref %r: control characters or surrounding spaces." % (ref,))
    return ref


def _validate_sha(sha):
    naming.validate_sha(sha)
    if not naming.SHA_RE.fullmatch(sha):
        raise ValueError("Invalid commit sha %r: expected 7 to 64 lowercase hex digits." % (sha,))
    return sha


def _kill_group(proc):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _git(args, git_dir=None, timeout=LOCAL_TIMEOUT, url=None, check=True):
    """Run git; return (returncode, stdout bytes, stderr text).

    git and its helpers (ssh, remote-https) run in a process group of their
    own, killed as a whole on timeout.
    """
    cmd = ["git", *_HARDENING]
    if git_dir is not None:
        cmd.append("--git-dir=%s" % git_dir)
    cmd.extend(args)
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=_git_env(), cwd=git_dir or tempfile.gettempdir(), start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=10)
        raise GitError(
            "git %s timed out after %s seconds%s." % (args[0], timeout, " on %s" % redact_url(url) if url else ""),
            kind="timeout",
        ) from None
    finally:
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()
    err_text = err.decode("utf-8", "replace").strip()
    if url:
        parts = urllib.parse.urlsplit(url) if "://" in url else None
        if parts is not None and parts.password:
            err_text = err_text.replace(parts.password, "***")
    if check and proc.returncode != 0:
        raise GitError("git %s failed: %s" % (args[0], _last_lines(err_text)))
    return proc.returncode, out, err_text


def _last_lines(text, count=3):
    lines = [line for line in text.splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no error message"


# --------------------------------------------------------------------------
# The mirror cache
# --------------------------------------------------------------------------

def mirror_path(repo_url, cache_dir):
    """Where the bare mirror of ``repo_url`` lives (whether or not it exists yet)."""
    naming.validate_repo_url(repo_url)
    digest = hashlib.sha256(repo_url.encode("utf-8")).hexdigest()
    return os.path.join(os.path.abspath(os.fspath(cache_dir)), digest + ".git")


@contextlib.contextmanager
def _locked(path, timeout=LOCK_TIMEOUT):
    """An exclusive lock on ``path`` (a lock file), shared by every process of the host."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise GitError("Timed out waiting for the lock %s." % path, kind="timeout") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)


def _fetch(git_dir, repo_url, timeout):
    rc, _out, err = _git(["fetch", "--prune", "--quiet", "origin"], git_dir=git_dir, timeout=timeout,
                         url=repo_url, check=False)
    if rc != 0:
        raise GitError(
            "Repository %s does not exist or cannot be reached: %s" % (redact_url(repo_url), _last_lines(err)),
            kind="unreachable",
        )


def ensure_mirror(repo_url, cache_dir, timeout=NETWORK_TIMEOUT):
    """Create (first call) or update (``fetch --prune``) the bare mirror of ``repo_url``.

    Returns the mirror's path. Only ``refs/heads/*`` and ``refs/tags/*`` are
    mirrored. A first clone happens in a temporary directory renamed into
    place once complete, so a failed or killed clone leaves nothing behind;
    concurrent callers on one host are serialized by a lock file.
    """
    path = mirror_path(repo_url, cache_dir)
    cache = os.path.dirname(path)
    os.makedirs(cache, mode=0o700, exist_ok=True)
    with _locked(path[: -len(".git")] + ".lock"):
        if os.path.isdir(path):
            _fetch(path, repo_url, timeout)
            return path
        tmp = tempfile.mkdtemp(prefix=".clone-", dir=cache)
        try:
            _git(["init", "--quiet", "--bare", "--", tmp])
            _git(["remote", "add", "--", "origin", repo_url], git_dir=tmp)
            _git(["config", "--replace-all", "remote.origin.fetch", "+refs/heads/*:refs/heads/*"], git_dir=tmp)
            _git(["config", "--add", "remote.origin.fetch", "+refs/tags/*:refs/tags/*"], git_dir=tmp)
            _git(["config", "remote.origin.tagOpt", "--no-tags"], git_dir=tmp)
            _git(["config", "gc.autoDetach", "false"], git_dir=tmp)
            os.makedirs(os.path.join(tmp, "info"), exist_ok=True)
            with open(os.path.join(tmp, "info", "attributes"), "w", encoding="ascii") as fh:
                fh.write(_INFO_ATTRIBUTES)
            _fetch(tmp, repo_url, timeout)
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return path


# --------------------------------------------------------------------------
# Refs and commits
# --------------------------------------------------------------------------

def _rev_parse(git_dir, expr):
    """The full sha of ``expr`` in the mirror, or None (raises on ambiguity)."""
    rc, out, err = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", expr], git_dir=git_dir,
                        check=False)
    if rc != 0:
        if "ambiguous" in err:
            raise GitError("Abbreviated commit %r is ambiguous: give more digits." % expr.split("^")[0],
                           kind="ambiguous")
        return None
    sha = out.decode("ascii", "replace").strip()
    if not _FULL_SHA_RE.match(sha):
        raise GitError("git rev-parse returned an unexpected value %r." % sha)
    return sha


def _lookup(git_dir, ref):
    """Resolve an already validated ref inside the mirror, without fetching."""
    if ref.startswith("refs/"):
        return _rev_parse(git_dir, ref + "^{commit}")
    if _FULL_SHA_RE.match(ref):
        return _rev_parse(git_dir, ref + "^{commit}")
    for candidate in ("refs/heads/" + ref, "refs/tags/" + ref):
        sha = _rev_parse(git_dir, candidate + "^{commit}")
        if sha:
            return sha
    if naming.SHA_RE.match(ref):
        return _rev_parse(git_dir, ref + "^{commit}")
    return None


def _unknown(repo_url, ref):
    if ref.startswith("refs/tags/"):
        what = "tag %r" % ref[len("refs/tags/"):]
    elif ref.startswith("refs/heads/"):
        what = "branch %r" % ref[len("refs/heads/"):]
    elif naming.SHA_RE.match(ref):
        what = "branch, tag or commit %r" % ref
    else:
        what = "branch or tag %r" % ref
    return GitError("Unknown %s in repository %s." % (what, redact_url(repo_url)), kind="unknown_ref")


def resolve(repo_url, ref, cache_dir, timeout=NETWORK_TIMEOUT):
    """The full sha of the commit ``ref`` names, after updating the mirror.

    ``ref``: a branch (``main``, ``release/1.0``), ``refs/heads/x``, a tag
    (``v1``, ``refs/tags/v1``; annotated tags are peeled) or a commit sha,
    possibly abbreviated (at least 7 digits). A plain name is looked up as a
    branch first, then as a tag, then as an abbreviated sha. A full sha
    already in the mirror is answered without fetching.
    """
    naming.validate_repo_url(repo_url)
    _validate_ref(ref)
    path = mirror_path(repo_url, cache_dir)
    if _FULL_SHA_RE.match(ref) and os.path.isdir(path):
        sha = _lookup(path, ref)
        if sha:
            return sha
    path = ensure_mirror(repo_url, cache_dir, timeout=timeout)
    sha = _lookup(path, ref)
    if not sha:
        raise _unknown(repo_url, ref)
    return sha


def _commit_in_mirror(repo_url, sha, cache_dir, timeout):
    """The mirror's path and the full sha of ``sha``, fetching only when it is missing."""
    naming.validate_repo_url(repo_url)
    _validate_sha(sha)
    path = mirror_path(repo_url, cache_dir)
    full = _lookup(path, sha) if os.path.isdir(path) else None
    if not full:
        path = ensure_mirror(repo_url, cache_dir, timeout=timeout)
        full = _rev_parse(path, sha + "^{commit}")
    if not full:
        raise GitError("Unknown commit %r in repository %s." % (sha, redact_url(repo_url)), kind="unknown_ref")
    return path, full


def list_branches(repo_url, cache_dir, timeout=NETWORK_TIMEOUT):
    """``{branch name: full sha}`` of the repository's branches (after a fetch)."""
    path = ensure_mirror(repo_url, cache_dir, timeout=timeout)
    _rc, out, _err = _git(["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/"], git_dir=path)
    branches = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, _sep, refname = line.partition(" ")
        if refname.startswith("refs/heads/"):
            branches[refname[len("refs/heads/"):]] = sha
    return branches


def changed_paths(repo_url, old_sha, new_sha, cache_dir, timeout=NETWORK_TIMEOUT):
    """Sorted paths that differ between two commits (``git diff --name-only``).

    Renames count as a deletion plus an addition, so both paths are listed.
    ``old_sha=None`` lists every file of ``new_sha`` (a first build).
    """
    naming.validate_repo_url(repo_url)
    _validate_sha(new_sha)
    if old_sha is not None:
        _validate_sha(old_sha)
    path, new_full = _commit_in_mirror(repo_url, new_sha, cache_dir, timeout)
    if old_sha is None:
        _rc, out, _err = _git(["ls-tree", "-r", "-z", "--name-only", "--full-tree", new_full], git_dir=path)
    else:
        path, old_full = _commit_in_mirror(repo_url, old_sha, cache_dir, timeout)
        _rc, out, _err = _git(
            ["diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", old_full, new_full, "--"],
            git_dir=path,
        )
    return sorted({os.fsdecode(p) for p in out.split(b"\0") if p})


def commit_info(repo_url, sha, cache_dir, timeout=NETWORK_TIMEOUT):
    """{sha, subject, author, date} of the commit ``sha`` (what an approver reads)."""
    path, full = _commit_in_mirror(repo_url, sha, cache_dir, timeout)
    _rc, out, _err = _git(["show", "-s", "--no-show-signature", "--format=%H%x00%s%x00%an%x00%aI", full],
                          git_dir=path)
    sha, subject, author, date = out.decode("utf-8", "replace").strip().split("\0", 3)
    return {"sha": sha, "subject": subject, "author": author, "date": date}


def addons_of(repo_url, sha, cache_dir, timeout=NETWORK_TIMEOUT):
    """The top-level directories of the commit ``sha`` that are Odoo addons (hold a ``__manifest__.py``)."""
    path, full = _commit_in_mirror(repo_url, sha, cache_dir, timeout)
    _rc, out, _err = _git(["ls-tree", "-z", "--name-only", "--full-tree", "-r", full], git_dir=path)
    return sorted({p.split("/")[0] for p in (os.fsdecode(x) for x in out.split(b"\0") if x)
                   if p.count("/") == 1 and p.endswith("/__manifest__.py")})
