"""The Odoo configuration file an environment's containers read.

Credentials (the environment's database role and password, its mail
catcher login) reach a container through this file, mounted read-only at
``/etc/odoo/odoo.conf``, never through its command line: a command line is
visible to every user of the host (``ps``) and to anyone allowed
``docker inspect``. The file lives in a directory only root may enter and
belongs to the container's ``odoo`` user, mode 0400.

Plain values in; nothing here knows about Odoo's ORM.
"""

import os
import secrets

CONTAINER_PATH = "/etc/odoo/odoo.conf"
# The runtime image's own settings (official odoo image layout).
# The platform's own addons for environments (env_addons/, mounted read-only
# at ENV_ADDONS_PATH) are loaded server-wide: never installed in a database.
ENV_ADDONS_PATH = "/mnt/ipai-ops-addons"
BASE_OPTIONS = {"addons_path": "/mnt/extra-addons,/opt/odoo/addons,%s" % ENV_ADDONS_PATH, "data_dir": "/var/lib/odoo",
                "server_wide_modules": "base,web,ipai_ops_connect"}


def render(options):
    """``[options]`` with one ``key = value`` line each; refuses values that
    would add lines (a newline in a password must not add a setting)."""
    lines = ["[options]"]
    for key, value in options.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "True" if value else "False"
        value = str(value)
        if not key.replace("_", "").isalnum() or any(c in value for c in "\r\n\x00"):
            raise ValueError("Invalid Odoo configuration value for %r." % key)
        lines.append("%s = %s" % (key, value))
    return "\n".join(lines) + "\n"


def environment_options(db, role, password, mail=None, extra=None):
    """The settings of an environment: its database server and role, no
    database manager, a random master password (nobody needs it), and the
    mail catcher as SMTP server where there is one."""
    options = dict(BASE_OPTIONS)
    options.update({
        "db_host": db["host"], "db_port": int(db["port"]), "db_user": role, "db_password": password,
        "list_db": False, "admin_passwd": secrets.token_urlsafe(24),
    })
    if mail:
        options.update({"smtp_server": mail["host"], "smtp_port": int(mail["port"]), "smtp_user": mail["user"],
                        "smtp_password": mail["password"], "smtp_ssl": False})
    options.update(extra or {})
    return options


def write(directory, name, options, uid, gid):
    """Write the configuration file ``directory/name`` (in place, so
    containers that mount it see the new content), readable by ``uid``
    only, in a directory only root may enter. Returns the path."""
    return _write_private(directory, name, render(options).encode(), uid, gid)


def write_secret(directory, name, value, uid, gid):
    """A one-value secret file (a key a single container reads)."""
    if any(c in value for c in "\r\n\x00"):
        raise ValueError("A secret is one line.")
    return _write_private(directory, name, value.encode(), uid, gid)


def _write_private(directory, name, content, uid, gid):
    if not name or "/" in name or name.startswith("."):
        raise ValueError("Invalid file name %r." % name)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chown(directory, 0, 0)
    os.chmod(directory, 0o700)
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o400)
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, 0o400)
        os.write(fd, content)
    finally:
        os.close(fd)
    return path


def volume(path):
    """The Docker volume mapping that mounts ``path`` as the container's configuration."""
    return {path: {"bind": CONTAINER_PATH, "mode": "ro"}}
