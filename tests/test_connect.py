"""Connect: a single-use link that logs into an environment as its
administrator, asked over XML-RPC and the CLI and followed with a real HTTP
client through the platform's nginx; a second use and a late use fail;
who may ask follows the stage matrix."""

import xmlrpc.client
from urllib.parse import urlparse

import pytest
import requests
from conftest import PROD_SLUG
from e2e import admin_conn, ops


def follow(url):
    """Follow a Connect link like a browser; (final response, the Odoo session it got)."""
    session = requests.Session()
    answer = session.get(url, timeout=30)
    return answer, session


def session_info(session, prod):
    info = session.post(prod["url"] + "/web/session/get_session_info", json={
        "jsonrpc": "2.0", "method": "call", "id": 1, "params": {}}, timeout=30).json()
    return info.get("result") or {}


def test_a_link_logs_in_as_administrator_once(server, prod, prod_members):
    link = server.rpc("e2e_admin")("ops.environment", "connect", [prod["id"]])
    assert link["expires_in"] == 60 and link["url"].startswith(prod["url"] + "/ipai_ops/connect?token="), link
    answer, session = follow(link["url"])
    # /web, which 18.0 sends on to /odoo: the backend, logged in
    assert answer.status_code == 200 and urlparse(answer.url).path.startswith(("/odoo", "/web")) and (
        "/web/login" not in answer.url), (answer.url, answer.status_code)
    info = session_info(session, prod)
    assert info.get("uid") == 2 and info.get("db") == prod["database_name"], info
    again, other = follow(link["url"])
    assert again.status_code == 403 and "not valid" in again.text, "a second use fails"
    assert not session_info(other, prod).get("uid")
    # Recorded: who asked for a link to which environment.
    notes = server.rpc("e2e_manager")("mail.message", "search_read", [
        ("model", "=", "ops.environment"), ("res_id", "=", prod["id"]), ("body", "ilike", "Connect:")], ["body"])
    assert any("e2e_admin" in note["body"] for note in notes), notes


def test_a_late_link_fails(server, prod, prod_members):
    link = server.rpc("e2e_admin")("ops.environment", "connect", [prod["id"]])
    # The minute passes: the expiry stored in the environment's database is behind us.
    conn = admin_conn(prod["database_name"])
    try:
        with conn, conn.cursor() as cr:
            cr.execute("SELECT value::float - extract(epoch FROM now()) FROM ir_config_parameter "
                       "WHERE key LIKE 'ipai\\_ops.connect.%%'")
            left = [row[0] for row in cr.fetchall()]
            assert len(left) == 1 and 55 < left[0] <= 61, left
            cr.execute("UPDATE ir_config_parameter SET value = (extract(epoch FROM now()) - 1)::text "
                       "WHERE key LIKE 'ipai\\_ops.connect.%%'")
    finally:
        conn.close()
    answer, session = follow(link["url"])
    assert answer.status_code == 403 and not session_info(session, prod).get("uid")


def test_only_admins_connect_to_production(server, prod, prod_members, ops_bin):
    for login in ("e2e_tester", "e2e_dev"):
        with pytest.raises(xmlrpc.client.Fault, match="may not run 'connect' on production"):
            server.rpc(login)("ops.environment", "connect", [prod["id"]])
    with pytest.raises(xmlrpc.client.Fault):
        server.rpc("e2e_outsider")("ops.environment", "connect", [prod["id"]])
    refused = ops(ops_bin, server, "e2e_dev", "env", "connect", PROD_SLUG, "main")
    assert refused.returncode != 0 and "may not run 'connect'" in refused.stderr, refused
    printed = ops(ops_bin, server, "e2e_admin", "env", "connect", PROD_SLUG, "main")
    assert printed.returncode == 0, printed
    answer, session = follow(printed.stdout.splitlines()[0])
    assert answer.status_code == 200 and session_info(session, prod).get("uid") == 2
