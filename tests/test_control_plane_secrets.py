"""The control plane as an attacker on the host would try it: its master
password, its database manager, and a dump of its database."""

import hashlib
import hmac
import os
import subprocess
import xmlrpc.client

import requests
from e2e import admin_sql, env_secret, shell, sql
from odoo.addons.ipai_ops_core.services import secret_box
from odoo.addons.ipai_ops_core.tests.tls_helpers import ThrowawayCA

OLD_DEFAULT = "ipai-ops-local-admin"  # what odoo.conf in this repository used to say, on every installation


def master_password():
    path = os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "secrets", "master-password")
    with open(path) as fh:
        return fh.read().strip()


def test_master_password_calls_fail_whatever_the_password(server):
    db = xmlrpc.client.ServerProxy("%s/xmlrpc/2/db" % server.url, allow_none=True)
    real = master_password()
    assert real not in (OLD_DEFAULT, "admin") and len(real) >= 32
    calls = {
        "dump": lambda pw: db.dump(pw, server.db, "zip"),
        "drop": lambda pw: db.drop(pw, server.db),
        "restore": lambda pw: db.restore(pw, server.db + "_restored", "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="),
        "duplicate": lambda pw: db.duplicate_database(pw, server.db, server.db + "_copy"),
        "change_admin_password": lambda pw: db.change_admin_password(pw, "admin"),
    }
    # The installation's own password is refused too: the manager is off, not only locked.
    for password in (OLD_DEFAULT, "admin", real):
        for name, call in calls.items():
            try:
                call(password)
            except xmlrpc.client.Fault as fault:
                assert "AccessDenied" in fault.faultString or "Access Denied" in fault.faultString, (name, fault)
            else:
                raise AssertionError("db.%s with %r was accepted" % (name, password))
    try:
        db.list()
    except xmlrpc.client.Fault as fault:
        assert "AccessDenied" in fault.faultString or "Access Denied" in fault.faultString, fault
    else:
        raise AssertionError("db.list answered")
    # Nothing happened to the database, nor was anything made next to it.
    names = {name for (name,) in admin_sql("SELECT datname FROM pg_database WHERE datname LIKE '%s%%'"
                                           % server.db.replace("_", "\\_"))}
    assert names == {server.db}, names
    assert requests.get(server.url + "/web/health", timeout=10).status_code == 200


def test_the_database_manager_pages_answer_404(server):
    for path in ("/web/database/manager", "/web/database/selector"):
        answer = requests.get(server.url + path, timeout=30, allow_redirects=False)
        assert answer.status_code == 404, (path, answer.status_code, answer.text[:300])
    for path, form in (("/web/database/backup", {"master_pwd": "admin", "name": server.db, "backup_format": "zip"}),
                       ("/web/database/drop", {"master_pwd": OLD_DEFAULT, "name": server.db}),
                       ("/web/database/restore", {"master_pwd": "admin", "name": "x"}),
                       ("/web/database/change_password", {"master_pwd": "admin", "master_pwd_new": "mine"})):
        answer = requests.post(server.url + path, data=form, timeout=30, allow_redirects=False)
        assert answer.status_code == 404, (path, answer.status_code, answer.text[:300])
        assert b"PK" not in answer.content[:2], "a backup came back"
    answer = requests.post(server.url + "/web/database/list", json={"jsonrpc": "2.0", "method": "call", "params": {}},
                           timeout=30).json()
    assert answer.get("error", {}).get("code") == 404 and "result" not in answer, answer
    # The rest of the web client is there.
    assert requests.get(server.url + "/web/login", timeout=30).status_code == 200


def test_a_dump_of_the_control_plane_holds_no_secret_in_clear(server):
    manager = server.rpc("e2e_manager")
    env_id = server.envs["main"]
    # A project of its own for the webhook secret and the GitHub token (no run of it ever posts a status).
    project_id = manager("ops.project", "create", {"name": "Vault", "slug": "vault-e2e",
                                                   "repo_url": "/srv/git/vault-e2e.git"})
    chain, key = ThrowawayCA().issue(["vault.vault-e2e.e2e.test"])
    cert_id = manager("ops.certificate", "create", {"project_id": project_id, "certificate": chain,
                                                    "private_key_upload": key})
    channel_id = manager("ops.alert.channel", "create", {"name": "vault", "url": "https://hooks.example.com/vault",
                                                         "new_secret": "channel-secret-Zq81"})
    out = shell(server, """
env_ = env["ops.environment"].browse(%d)
role, db_password = env_._ops_db_credentials()
env["ops.project"].browse(%d).write({"webhook_secret": "webhook-secret-Kx73", "github_token": "ghp_token_Vb29"})
print("S3-BEFORE", repr(env["ir.config_parameter"].set_param("ipai_ops.backup_s3_secret_key", "s3-secret-Hn45")))
admin_password = env_._ops_admin_password()
env.cr.commit()
print("SECRETS", db_password, admin_password, env["ops.mail"]._ops_secret(env_.id))
""" % (env_id, project_id))
    db_password, admin_password, mail_password = [ln for ln in out.splitlines()
                                                  if ln.startswith("SECRETS ")][0].split()[1:]
    s3_before = [ln for ln in out.splitlines() if ln.startswith("S3-BEFORE ")][0][len("S3-BEFORE "):]
    try:
        # As an operator takes one: pg_dump as the control plane's database user.
        dump = subprocess.run(
            ["pg_dump", "-h", os.environ["OPS_DB_HOST"], "-p", os.environ["OPS_DB_PORT"],
             "-U", os.environ["OPS_DB_USER"], "--no-password", server.db],
            env=dict(os.environ, PGPASSWORD=os.environ["OPS_DB_PASSWORD"]), capture_output=True, check=True,
            timeout=300).stdout.decode()
        key_body = "".join(line for line in key.splitlines() if not line.startswith("-----"))
        clear = {"database password": db_password, "administrator password": admin_password,
                 "TLS private key": key_body[:64], "webhook secret": "webhook-secret-Kx73",
                 "GitHub token": "ghp_token_Vb29", "channel secret": "channel-secret-Zq81",
                 "S3 secret key": "s3-secret-Hn45"}
        for what, value in clear.items():
            assert len(value) >= 12 and value not in dump, "the dump holds the %s in clear" % what
        assert dump.count(secret_box.MARK) >= len(clear), "the secrets are in the dump, encrypted"
        assert chain.splitlines()[1] in dump, "the dump is the real one (the public certificate is in it)"
        # The mail catcher's logins do not come from anything in the dump (they used to: database.secret).
        [(database_secret,)] = sql(server.db, "SELECT value FROM ir_config_parameter WHERE key = 'database.secret'")
        assert database_secret in dump
        assert mail_password != hmac.new(database_secret.encode(), b"ipai-ops-mail-%d" % env_id,
                                         hashlib.sha256).hexdigest()[:32]
        # The platform (and the tests' helper) still get them in clear.
        assert env_secret(server, env_id, "db_password") == db_password
        assert env_secret(server, env_id, "admin_password") == admin_password
    finally:
        manager("ops.certificate", "unlink", [cert_id])
        manager("ops.alert.channel", "unlink", [channel_id])
        shell(server, 'env["ir.config_parameter"].set_param("ipai_ops.backup_s3_secret_key", %s)\n'
                      'env["ops.project"].browse(%d).write({"github_token": False, "state": "archived"})\n'
                      'env.cr.commit()\n' % (s3_before, project_id))
