"""Validation of every name that reaches git, PostgreSQL, Docker or a path.

Patterns end in ``\\Z``, not ``$``: ``$`` also matches before a trailing
newline, and a name with a newline must never pass.

One place, plain values in, a clear ``ValueError`` out. Callers turn the
error into a user-facing message; nothing here knows about Odoo.
"""

import hashlib
import re

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
# PostgreSQL identifiers are limited to 63 bytes; keep database names to a
# conservative alphabet that needs no quoting anywhere (shell, URL, dbfilter).
DB_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")
SHA_RE = re.compile(r"^[0-9a-f]{7,64}\Z")
BRANCH_MAX = 200
_BRANCH_CHARS = re.compile(r"^[A-Za-z0-9._/+@-]+\Z")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._/~-]+\Z")
_URL_RE = re.compile(r"^(https?|ssh|git|file)://[^\s]+\Z")


def validate_slug(value):
    if not isinstance(value, str) or not SLUG_RE.match(value):
        raise ValueError(
            "Invalid slug %r: use 1 to 63 lowercase letters, digits and dashes, "
            "starting and ending with a letter or digit." % (value,)
        )
    return value


def validate_branch(value):
    """Accept a git branch name that is also safe everywhere we use it.

    Follows ``git check-ref-format --branch`` and additionally refuses
    anything outside a conservative alphabet (no spaces, quotes, ``$``,
    ``;``, backslashes or control characters), leading dashes (option
    injection) and path traversal.
    """
    if not isinstance(value, str) or not value:
        raise ValueError("Branch name is empty.")
    if len(value) > BRANCH_MAX:
        raise ValueError("Branch name is longer than %d characters." % BRANCH_MAX)
    if not _BRANCH_CHARS.match(value):
        raise ValueError(
            "Invalid branch name %r: only letters, digits and . _ / + @ - are allowed." % (value,)
        )
    if value.startswith(("-", "/", ".")) or value.endswith(("/", ".", ".lock")):
        raise ValueError("Invalid branch name %r: bad first or last character." % (value,))
    if ".." in value or "//" in value or "/." in value or "@{" in value or value == "@":
        raise ValueError("Invalid branch name %r: contains '..', '//', '/.' or '@{'." % (value,))
    return value


def validate_ref(value):
    """A ref as given by a user or a webhook: a branch, ``refs/heads/x`` or a sha."""
    if isinstance(value, str) and value.startswith("refs/"):
        parts = value.split("/", 2)
        if len(parts) != 3 or parts[1] not in ("heads", "tags"):
            raise ValueError("Invalid ref %r: only refs/heads/* and refs/tags/* are accepted." % (value,))
        validate_branch(parts[2])
        return value
    if isinstance(value, str) and SHA_RE.match(value):
        return value
    return validate_branch(value)


def validate_sha(value):
    if not isinstance(value, str) or not SHA_RE.match(value):
        raise ValueError("Invalid commit sha %r: expected 7 to 64 lowercase hex digits." % (value,))
    return value


def validate_db_name(value):
    if not isinstance(value, str) or not DB_NAME_RE.match(value):
        raise ValueError(
            "Invalid database name %r: use up to 63 lowercase letters, digits and underscores, "
            "starting with a letter." % (value,)
        )
    return value


def validate_repo_url(value):
    """Local absolute path, file://, http(s)://, ssh://, git:// or scp-like user@host:path."""
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise ValueError("Repository URL is empty or too long.")
    if any(c.isspace() or ord(c) < 32 for c in value) or value.startswith("-"):
        raise ValueError("Invalid repository URL %r." % (value,))
    if value.startswith("/") or _URL_RE.match(value) or _SCP_LIKE.match(value):
        if "::" in value or value.startswith("ext::"):
            raise ValueError("Invalid repository URL %r: transport helpers are not allowed." % (value,))
        return value
    raise ValueError(
        "Invalid repository URL %r: use an absolute path, file://, https://, ssh:// "
        "or user@host:path." % (value,)
    )


def local_repo_path(url):
    """The filesystem path of a local repository URL (absolute path or
    file://), or None for a remote one."""
    if not isinstance(url, str):
        return None
    if url.startswith("file://"):
        return url[len("file://"):] or "/"
    if url.startswith("/"):
        return url
    return None


def slugify(value, max_len=40):
    """Best-effort slug from free text (for defaults, never for validation)."""
    slug = re.sub(r"[^a-z0-9]+", "-", (value or "").lower()).strip("-")
    return slug[:max_len].strip("-") or "project"


NAMESPACE_RE = re.compile(r"^[a-z][a-z0-9]{1,11}\Z")


def namespace_for(control_plane_db):
    """The short prefix of everything a control plane makes on shared servers
    (database roles, databases, Docker labels): derived from the control
    plane's own database name, unique on its PostgreSQL server, so two control
    planes (say a test copy and production) never touch each other's."""
    return "o" + hashlib.sha1(control_plane_db.encode()).hexdigest()[:6]


def validate_namespace(value):
    if not isinstance(value, str) or not NAMESPACE_RE.match(value):
        raise ValueError("Invalid namespace %r." % (value,))
    return value


def legacy_role_name(namespace, project_slug):
    """The per-project role of installations before 18.0.1.1.0 (shared by
    every environment of the project): only still read to migrate them."""
    validate_namespace(namespace)
    return validate_db_name(("ops_%s_%s" % (namespace, validate_slug(project_slug).replace("-", "_")))[:63])


def env_role_name(namespace, environment_id):
    """The PostgreSQL role of one environment: it owns that environment's
    databases and nothing else (development code never holds production's)."""
    return validate_db_name("ops_%s_e%d" % (validate_namespace(namespace), _positive(environment_id)))


def template_role_name(namespace, project_id):
    """The role (NOLOGIN) owning a project's build templates: nobody logs in
    with it; a build copying a template takes its objects over."""
    return validate_db_name("ops_%s_p%d_tpl" % (validate_namespace(namespace), _positive(project_id)))


def _positive(value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("Expected a positive integer id, got %r." % (value,))
    return value


def _readable(*parts):
    return "_".join(re.sub(r"[^a-z0-9]+", "_", (part or "").lower()).strip("_") for part in parts if part)


def db_name_for(namespace, environment_id, run_id, project_slug="", branch=""):
    """Database name of a build: ``<namespace>_<environment id>_<run id>_``
    and then the project and branch for people to read, cut to 63 characters.
    Unique by construction: the ids come first and are never cut, so two
    projects or branches can never produce the same name."""
    head = "%s_%d_%d" % (validate_namespace(namespace), _positive(environment_id), _positive(run_id))
    tail = _readable(project_slug, branch)
    return validate_db_name(("%s_%s" % (head, tail))[:63].rstrip("_") if tail else head)


def template_db_name(namespace, project_id, key):
    """A project's cached build template (see executors/build.py)."""
    if not re.fullmatch(r"[0-9a-f]{6,32}", key or ""):
        raise ValueError("Invalid template key %r." % (key,))
    return validate_db_name("tpl_%s_%d_%s" % (validate_namespace(namespace), _positive(project_id), key))


def verified_copy_name(namespace, environment_id):
    """The database a passing restore drill keeps of an environment's latest
    backup (staging builds may start from it)."""
    return validate_db_name("vbk_%s_%d" % (validate_namespace(namespace), _positive(environment_id)))


def drill_db_name(namespace, run_id):
    return validate_db_name("drill_%s_%d" % (validate_namespace(namespace), _positive(run_id)))


def owns_database_name(namespace, name):
    """Whether ``name`` is a database name this control plane makes."""
    return isinstance(name, str) and any(
        name.startswith(prefix) for prefix in ("%s_" % namespace, "tpl_%s_" % namespace, "vbk_%s_" % namespace,
                                               "drill_%s_" % namespace))


def container_name(namespace, what, environment_id, run_id):
    """Names of containers: the namespace and ids make them unique on an
    engine shared by several control planes."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,20}", what or ""):
        raise ValueError("Invalid container purpose %r." % (what,))
    return "ipai-ops-%s-%s-e%d-r%d" % (validate_namespace(namespace), what, _positive(environment_id),
                                         _positive(run_id))
