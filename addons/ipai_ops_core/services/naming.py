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


def role_name(namespace, project_slug):
    """The PostgreSQL role of a project: owns its databases and nothing else."""
    validate_namespace(namespace)
    return validate_db_name(("ops_%s_%s" % (namespace, validate_slug(project_slug).replace("-", "_")))[:63])


def db_name_for(namespace, project_slug, env_branch, run_number):
    """Database name of a build: namespace, project, environment and run, within 63 chars."""
    validate_namespace(namespace)
    branch = re.sub(r"[^a-z0-9]+", "_", env_branch.lower()).strip("_")[:24] or "branch"
    suffix = "_%d" % int(run_number)
    head = "%s_%s_%s" % (namespace, project_slug.replace("-", "_")[:24], branch)
    return validate_db_name(head[:63 - len(suffix)] + suffix)


def verified_copy_name(namespace, project_slug, environment_id):
    """The database a passing restore drill keeps of an environment's latest
    backup (staging builds may start from it)."""
    return validate_db_name("vbk_%s_%s_%d" % (namespace, project_slug.replace("-", "_")[:30], int(environment_id)))
