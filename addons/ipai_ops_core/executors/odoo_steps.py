"""Running Odoo on an environment's databases, shared by every executor and
owned by none: one-shot commands in the environment's image (install,
update, neutralize, obfuscate), which modules a new version changes, the
environment's database connection, staging's safety steps (the mail catcher
as only mail server, the project's scrub SQL) and the administrator password.
"""

import contextlib
import os
from secrets import token_urlsafe

import psycopg2

from ..services import naming, odoo_config, odoo_log, postgres, runtime
from . import credentials, network, node_files, node_jobs, paths
from .base import RunFailed

# Odoo's obfuscate takes its key only as --pwd, which `ps` would show: this
# reads it from a file instead and hands it over inside the process.
_OBFUSCATE = (
    "import sys\n"
    "key = open(sys.argv[1]).read().strip()\n"
    "sys.argv = ['odoo', 'obfuscate', *sys.argv[2:], '--pwd', key]\n"
    "sys.path.insert(0, '/opt/odoo')\n"
    "import odoo.cli\n"
    "odoo.cli.main()\n"
)
_KEY_PATH = "/run/ipai-ops/obfuscate.key"


def labels(spec, role=None):
    return runtime.labels_for(spec["namespace"], spec["project_slug"], spec["environment_id"], spec["run_id"],
                                    role)


def container_name(spec, what):
    return naming.container_name(spec["namespace"], what, spec["environment_id"], spec["run_id"])


ENV_ADDONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "env_addons")


def volumes(spec, engine, reporter=None):
    """The environment's data directory, its configuration file (which
    holds its credentials: they never appear on a command line) and the
    platform's addons for environments (Connect), read-only. The
    environment's network is made first: the file names its gateway."""
    network.ensure(spec, engine, reporter)
    return {paths.env_dir(spec): {"bind": "/var/lib/odoo", "mode": "rw"}, **credentials.config_volume(spec),
            ENV_ADDONS: {"bind": odoo_config.ENV_ADDONS_PATH, "mode": "ro"}}


def unit_mounts(spec, engine, reporter=None):
    """What a swarm unit of the environment mounts (its node may be another
    machine: nothing of the platform's host): the data directory of its
    node, and as Swarm files its configuration file (a secret, the odoo
    user's, 0400) and the platform's addons for environments (configs).
    Returns (volumes, files)."""
    network.ensure(spec, engine, reporter)
    files = {odoo_config.CONTAINER_PATH: {"data": credentials.config_text(spec), "secret": True, "uid": paths.ODOO_UID,
                                          "gid": paths.ODOO_UID, "mode": 0o400}}
    for folder, _dirs, names in os.walk(ENV_ADDONS):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                target = os.path.join(odoo_config.ENV_ADDONS_PATH, os.path.relpath(path, ENV_ADDONS))
                with open(path, "rb") as handle:
                    files[target] = {"data": handle.read(), "mode": 0o444}
    return {paths.env_dir(spec): {"bind": "/var/lib/odoo", "mode": "rw"}}, files


def run_odoo(spec, engine, image, command, what, reporter, on_line=None, tools=None, secrets=None, **kwargs):
    """A one-shot Odoo command in the environment's image, as the
    environment's role, on the environment's network; returns (exit code,
    last lines). ``tools``: {directory of the platform: path in the
    container}, read-only (OpenUpgrade's scripts); ``secrets``: {path in the
    container: text}, a file only Odoo's user reads, for this command only
    (obfuscate's key). On a node with a disk of its own: a Swarm job there
    (executors/node_jobs.py)."""
    if node_files.on_own_disk(spec):  # a Swarm job there
        return node_jobs.run_odoo_job(spec, engine, image, command, what, reporter, on_line=on_line, tools=tools,
                                      secrets=secrets, **kwargs)
    net = network.ensure(spec, engine, reporter)
    mounts = dict(kwargs.pop("volumes", None) or volumes(spec, engine, reporter), **{
        source: {"bind": target, "mode": "ro"} for source, target in (tools or {}).items()})
    kwargs.setdefault("network", net["name"])
    kwargs["environment"] = dict(network.container_environment(spec), **(kwargs.get("environment") or {}))
    with contextlib.ExitStack() as stack:
        for target, value in sorted((secrets or {}).items()):
            key = stack.enter_context(credentials.KeyFile(spec, os.path.basename(target), value))
            mounts[key.path] = {"bind": target, "mode": "ro"}
        return engine.run_to_completion(image, command, container_name(spec, what), labels(spec, what),
                                        volumes=mounts, on_line=on_line or (lambda line: reporter.log("debug", line)),
                                        **kwargs)


def change_modules(spec, engine, image, dbname, args, reporter, what, failure):
    """Install or update modules (``args``: -i/-u ...) on ``dbname`` without
    demo data; raises RunFailed(``failure`` and what broke, read from the
    log) when Odoo fails."""
    summary = odoo_log.LogSummary()
    exit_code, _tail = run_odoo(
        spec, engine, image, ["-d", dbname, "--stop-after-init", "--no-http", "--log-level", "info",
                              "--without-demo", "all", *args], what, reporter,
        on_line=lambda line: reporter.log(summary.feed(line), line), mem_limit=spec.get("mem_limit"),
        nano_cpus=spec.get("nano_cpus"))
    reporter.flush()
    if exit_code != 0:
        raise RunFailed("%s (exit code %d)%s" % (failure, exit_code, summary.cause()), exit_code,
                        detail=summary.detail())


def module_changes(spec, dbname, modules, versions, reporter):
    """The odoo arguments that bring ``dbname`` to the manifest ``versions``:
    ``-u`` only the modules whose version changed, ``-i`` the new ones."""
    conn = credentials.role_connection(spec, dbname)
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT name, latest_version FROM ir_module_module WHERE state = 'installed' AND name = ANY(%s)",
                       [list(modules)])
            installed = dict(cr.fetchall())
    finally:
        conn.close()
    to_install = sorted(m for m in modules if m not in installed)
    to_update = sorted(m for m in modules if m in installed and installed[m] != versions.get(m))
    reporter.log("info", "Modules to update (version changed): %s; to install: %s" % (
        ", ".join("%s %s -> %s" % (m, installed[m], versions.get(m)) for m in to_update) or "none",
        ", ".join(to_install) or "none"))
    return (["-u", ",".join(to_update)] if to_update else []) + (["-i", ",".join(to_install)] if to_install else [])


def neutralize(spec, engine, image, dbname, reporter):
    """``odoo neutralize`` in the environment's image (so it matches that
    Odoo version): crons off but autovacuum, mail servers off, payment
    providers in test mode, ``database.is_neutralized`` set."""
    reporter.log("info", "Neutralizing %s with odoo neutralize" % dbname)
    exit_code, tail = run_odoo(spec, engine, image, ["neutralize", "-d", dbname], "neutralize", reporter)
    if exit_code != 0:
        raise RunFailed("odoo neutralize failed (exit code %d): %s" % (exit_code, " | ".join(tail[-5:])))


def point_mail_at_catcher(spec, dbname, mail):
    """After neutralize: the only active outgoing mail server is the catcher
    (neutralize's own dummy server, repointed)."""
    conn = credentials.role_connection(spec, dbname)
    try:
        with conn, conn.cursor() as cr:
            cr.execute("UPDATE ir_mail_server SET active = false")
            if mail:
                cr.execute("""
                    UPDATE ir_mail_server
                       SET active = true, name = 'ipai ops mail catcher', smtp_host = %s, smtp_port = %s,
                           smtp_user = %s, smtp_pass = %s, smtp_encryption = 'none', smtp_authentication = 'login'
                     WHERE name = 'neutralization - disable emails'
                """, [mail["host"], mail["port"], mail["user"], mail["password"]])
    finally:
        conn.close()


def scrub(spec, dbname, statements, reporter):
    """The project's SQL scrub hooks, as the environment's role, in one transaction."""
    if not statements:
        return
    conn = credentials.role_connection(spec, dbname)
    try:
        with conn, conn.cursor() as cr:
            for statement in statements:
                reporter.log("info", "Scrub: %s" % statement[:200])
                cr.execute(statement)
    except psycopg2.Error as exc:
        raise RunFailed("A scrub statement failed: %s" % str(exc).strip()) from exc
    finally:
        conn.close()


def obfuscate(spec, engine, image, dbname, reporter):
    """Odoo's own ``obfuscate``, with its own list of personal fields
    (partners' names, emails, phones, addresses; messages; leads) unless the
    spec names others. The key is random, made for this build only and
    removed once obfuscate is done: nobody can reverse the obfuscation."""
    fields = ["--fields", spec["obfuscate_fields"]] if spec.get("obfuscate_fields") else []
    exit_code, tail = run_odoo(spec, engine, image, [_KEY_PATH, "-d", dbname, *fields, "-y"], "obfuscate", reporter,
                               secrets={_KEY_PATH: token_urlsafe(32)}, entrypoint=["python3", "-c", _OBFUSCATE])
    if exit_code != 0:
        raise RunFailed("odoo obfuscate failed (exit code %d): %s" % (exit_code, " | ".join(tail[-5:])))


def secure_admin(spec, dbname, reporter, only_if_default=False):
    """The environment's own administrator password on ``dbname`` (see
    credentials.secure_admin); says so in the log and the chatter when it
    replaced Odoo's default on a database someone uses."""
    changed = credentials.secure_admin(spec, dbname, only_if_default=only_if_default)
    if changed and only_if_default:
        reporter.log("warning", "The administrator of %s still had Odoo's default password; it now has a random "
                                "one kept by the platform" % dbname)
        reporter.environment_message(
            "The administrator password of %s was Odoo's default (admin): it was replaced by a random password "
            "kept by the platform." % dbname)
    return changed


def neutralize_copy(spec, engine, image, dbname, reporter):
    """What makes a copy of production safe to run as development or
    staging: neutralize, the mail catcher as only mail server, optional
    obfuscation and the project's scrub SQL, its own admin password."""
    neutralize(spec, engine, image, dbname, reporter)
    # the catcher as the environment's containers reach it: their network's gateway
    point_mail_at_catcher(spec, dbname, network.mail_endpoint(spec))
    if spec.get("obfuscate"):
        obfuscate(spec, engine, image, dbname, reporter)
    scrub(spec, dbname, spec.get("scrub_sql") or [], reporter)
    secure_admin(spec, dbname, reporter)


def copy_database(spec, name, template, template_owner):
    """``name`` as a file-level copy of ``template`` (CREATE DATABASE ...
    TEMPLATE), owned by the environment's role, objects included: a copy
    keeps the template's owner on every table until it is handed over."""
    postgres.create_database(spec["db"], name, spec["db_role"], template=template,
                             terminate_template_connections=True)
    postgres.reassign_objects(spec["db"], name, template_owner, spec["db_role"])
