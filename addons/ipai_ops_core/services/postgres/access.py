"""Who may open a connection at all: ``pg_hba.conf`` rules per environment.

Each environment's role may connect only from its own network's subnet
(and, as every role, from the host's loopback, where the platform's
executors work): ``host all <role> <subnet> scram-sha-256``. Which
databases it opens is decided inside PostgreSQL (it owns only its own;
CONNECT is revoked from PUBLIC). Nothing else is admitted from an
environment network: not the control plane's role, not ``postgres``, not
another environment's role.

Nothing else is admitted from an environment network: the databases no
environment has any business in (the control plane's own, ``template1``)
are refused to the whole pool of environment networks before any role is
looked at.

Several control planes may share a server: each owns two sections of the
file (``# BEGIN ipai-ops-deny <plane>`` and ``# BEGIN ipai-ops-allow
<plane>``), rewritten whole (under a lock, atomically) from the networks
that exist, then the server reloads its configuration. Every plane's
denials come first, then the grants, then the file as it was.

Where the file is not on this host or not ours to write (an external
server), ``sync`` says so and returns the lines an operator adds by hand.
"""

import contextlib
import ipaddress
import os
import tempfile

import psycopg2

from .. import filelock, naming
from ._base import PostgresError, _cursor, _execute, _validate_role

LOOPBACK = ("127.0.0.1", "localhost", "::1")


KINDS = ("deny", "allow")


def _bounds(kind, plane):
    return "# BEGIN ipai-ops-%s %s" % (kind, plane), "# END ipai-ops-%s %s" % (kind, plane)


def render(plane, entries, pool=None, deny_databases=()):
    """The two sections of ``plane``: ``deny`` (``deny_databases``, such as
    the control plane's own database, refused to anyone
    from the environments' ``pool``, whatever the role) and ``allow``
    (``entries``: [(role, subnet)], each environment's role from its own
    network). Returns {kind: [lines]}."""
    deny = []
    if pool and deny_databases:
        net = ipaddress.ip_network(pool, strict=True)
        names = sorted({_validate_db(name) for name in deny_databases})
        deny.append("host    %s    all    %s    reject" % (",".join(names), net))
    allow = []
    for role, subnet in sorted(set(entries)):
        _validate_role(role)
        net = ipaddress.ip_network(subnet, strict=True)
        if net.version != 4 or not net.is_private:
            raise ValueError("Refusing pg_hba access from %s: not a private IPv4 network." % subnet)
        allow.append("host    all    %s    %s    scram-sha-256" % (role, net))
    sections = {}
    for kind, lines in (("deny", deny), ("allow", allow)):
        begin, end = _bounds(kind, plane)
        what = ("databases no environment network opens" if kind == "deny"
                else "each environment's role, from its own network only")
        comment = "# Rendered by the ipai ops control plane (%s); changes here are overwritten." % what
        # Nothing to say: no section at all.
        sections[kind] = [begin, comment, *lines, end] if lines else []
    return sections


def _validate_db(name):
    if not naming.DB_NAME_RE.fullmatch(name or "") and name not in ("postgres", "template1"):
        raise ValueError("Invalid database name %r." % (name,))
    return name


def replace_sections(text, plane, sections):
    """``text`` with ``plane``'s sections replaced by ``sections``. Every
    control plane's sections go first, denials before grants (pg_hba is
    first match: a denial must come before any line that admits a role),
    then the rest of the file as it was."""
    lines, found, rest = text.splitlines(), {}, []
    current = None
    for line in lines:
        if current is None and line.startswith("# BEGIN ipai-ops-"):
            kind, _sep, owner = line[len("# BEGIN ipai-ops-"):].partition(" ")
            current = (kind, owner)
            found[current] = [line]
        elif current is not None:
            found[current].append(line)
            if line == "# END ipai-ops-%s %s" % current:
                current = None
        else:
            rest.append(line)
    for kind, section in sections.items():
        found[(kind, plane)] = section
    found = {key: lines for key, lines in found.items() if lines}
    # The file's leading comments stay on top.
    head = 0
    while head < len(rest) and (not rest[head].strip() or rest[head].lstrip().startswith("#")):
        head += 1
    ordered = [line for kind in KINDS for key in sorted(k for k in found if k[0] == kind) for line in found[key]]
    return "\n".join(rest[:head] + ordered + rest[head:]) + "\n"


def hba_file(admin):
    """Where the server's pg_hba.conf is, when the platform's role may know
    (pg_read_all_settings), else None."""
    with _cursor(admin) as cr:
        try:
            cr.execute("SHOW hba_file")
        except psycopg2.Error:  # insufficient privilege: a server the platform does not manage
            return None
        return cr.fetchone()[0]


def managed_file(admin):
    """The pg_hba.conf the platform may rewrite: the server's, when the
    server runs on this host (its address is the loopback) and the file is
    here and writable; else None."""
    if str(admin.get("host") or "127.0.0.1") not in LOOPBACK:
        return None
    path = hba_file(admin)
    if path and os.path.isfile(path) and os.access(path, os.W_OK):
        return path
    return None


@contextlib.contextmanager
def _locked(path):
    with filelock.locked(path + ".ipai-ops.lock"):
        yield


def sync(admin, plane, entries, pool=None, deny_databases=()):
    """Make the server admit exactly ``entries`` ([(role, subnet)]) for
    ``plane``, and refuse ``deny_databases`` to the whole ``pool``.
    Returns {"status": "reloaded" | "unchanged" | "unmanaged", "path",
    "lines"}; raises PostgresError when the server refuses to reload."""
    sections = render(plane, entries, pool, deny_databases)
    section = sections["deny"] + sections["allow"]
    path = managed_file(admin)
    if not path:
        return {"status": "unmanaged", "path": None, "lines": section}
    with _locked(path):
        with open(path) as fh:
            text = fh.read()
        new = replace_sections(text, plane, sections)
        if new == text:
            return {"status": "unchanged", "path": path, "lines": section}
        _rewrite(path, new)
        reload(admin)
    return {"status": "reloaded", "path": path, "lines": section}


def owners(text):
    """The owners of the sections in pg_hba.conf's ``text``: control planes
    (``o1a2b3c``) and their swarm hosts (``o1a2b3c:host``)."""
    return sorted({line[len("# BEGIN ipai-ops-"):].partition(" ")[2] for line in text.splitlines()
                   if line.startswith("# BEGIN ipai-ops-")})


def forget(admin, plane):
    """Remove every section of control plane ``plane``, its own and its
    swarm hosts' (a control plane that is gone: a test database made
    again gives its environment ids out again, and a stale line would
    admit a new environment's role). Returns the owners removed."""
    naming.validate_namespace(plane)
    path = managed_file(admin)
    if not path:
        return []
    with _locked(path):
        with open(path) as fh:
            text = fh.read()
        gone = [owner for owner in owners(text) if owner == plane or owner.startswith(plane + ":")]
        new = text
        for owner in gone:
            new = replace_sections(new, owner, {kind: [] for kind in KINDS})
        if new != text:
            _rewrite(path, new)
            reload(admin)
    return gone


def _rewrite(path, text):
    """Replace ``path`` by ``text`` at once, with its owner and mode."""
    stat = os.stat(path)
    fd, tmp = tempfile.mkstemp(prefix=".pg_hba.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chown(tmp, stat.st_uid, stat.st_gid)
        os.chmod(tmp, stat.st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def reload(admin):
    with _cursor(admin) as cr:
        _execute(cr, "SELECT pg_reload_conf()", what="The database server did not reload its pg_hba.conf")
        # The rules the server now uses: a line it could not parse is said, not ignored.
        try:
            cr.execute("SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL")
        except psycopg2.Error:  # the view is for privileged roles; the reload itself worked
            return
        errors = cr.fetchall()
    if errors:
        raise PostgresError("pg_hba.conf has errors after the update: %s"
                            % "; ".join("line %s: %s" % row for row in errors))
