"""Custom domains and TLS at the front door, over XML-RPC and through the
platform's real nginx: a project admin adds a domain and a certificate,
the production answers on them (HTTPS, HTTP redirected), bad input and
other roles are refused with nothing written to the proxy; the platform's
wildcard certificate imported the way certbot's deploy hook does."""

import os
import subprocess
import xmlrpc.client
from urllib.parse import urlparse

import pytest
import requests
from conftest import PROD_SLUG
from e2e import odoo_command, ops
from odoo.addons.ipai_ops_core.tests.tls_helpers import ThrowawayCA, other_key_pem

DOMAIN = "shop.%s.test" % PROD_SLUG


def sites(server):
    with open(os.path.join(server.proxy_root, "sites", "ipai_ops.conf")) as fh:
        return fh.read()


def url_of(server, prod):
    return server.rpc("e2e_manager")("ops.environment", "read", [prod["id"]], ["url"])[0]["url"]


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = ThrowawayCA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(ca.pem)
    ca.file = str(path)
    return ca


@pytest.fixture(scope="module")
def members(server, prod):
    """e2e_admin and e2e_dev join the production's project."""
    manager = server.rpc("e2e_manager")
    project_id = prod["project_id"][0]
    ids = [manager("ops.project.member", "create", {"project_id": project_id, "user_id": server.uids[login],
                                                    "role": role})
           for login, role in (("e2e_admin", "admin"), ("e2e_dev", "developer"))]
    yield
    manager("ops.project.member", "unlink", ids)


def test_a_project_admin_adds_a_domain_and_its_certificate(server, prod, ca, members):
    admin, dev = server.rpc("e2e_admin"), server.rpc("e2e_dev")
    before = sites(server)
    with pytest.raises(xmlrpc.client.Fault, match="may not change the domains"):
        dev("ops.domain", "create", {"name": DOMAIN, "environment_id": prod["id"]})
    for bad in ("%s/admin" % DOMAIN, "http://%s" % DOMAIN, "*.%s" % DOMAIN, "main.other.e2e.test"):
        with pytest.raises(xmlrpc.client.Fault, match="Invalid hostname|wildcard|base domain"):
            admin("ops.domain", "create", {"name": bad, "environment_id": prod["id"]})
    chain, key = ca.issue([prod["hostname"], DOMAIN])
    with pytest.raises(xmlrpc.client.Fault, match="does not match"):
        admin("ops.certificate", "create", {"project_id": prod["project_id"][0], "certificate": chain,
                                            "private_key_upload": other_key_pem()})
    with pytest.raises(xmlrpc.client.Fault, match="may not manage the TLS certificates"):
        dev("ops.certificate", "create", {"project_id": prod["project_id"][0], "certificate": chain,
                                          "private_key_upload": key})
    assert sites(server) == before, "nothing refused reached the proxy"

    domain_id = admin("ops.domain", "create", {"name": DOMAIN, "environment_id": prod["id"]})
    plain = requests.get("http://%s:%s/web/login" % (DOMAIN, server.proxy_listen.rpartition(":")[2]), timeout=30)
    assert plain.status_code == 200 and 'name="login"' in plain.text, "the custom domain is served"
    with pytest.raises(xmlrpc.client.Fault, match="already served"):
        server.rpc("e2e_manager")("ops.domain", "create", {"name": DOMAIN, "environment_id": prod["id"]})

    cert_id = admin("ops.certificate", "create", {"project_id": prod["project_id"][0], "certificate": chain,
                                                  "private_key_upload": key})
    try:
        tls_port = server.proxy_listen_tls.rpartition(":")[2]
        url = url_of(server, prod)
        assert url == "https://%s:%s" % (prod["hostname"], tls_port), "the URL says HTTPS once a certificate covers it"
        for host in (prod["hostname"], DOMAIN):
            answer = requests.get("https://%s:%s/web/login" % (host, tls_port), verify=ca.file, timeout=30)
            assert answer.status_code == 200 and 'name="login"' in answer.text, host
            redirect = requests.get("http://%s:%s/web/login" % (host, server.proxy_listen.rpartition(":")[2]),
                                    allow_redirects=False, timeout=30)
            assert redirect.status_code == 301 and redirect.headers["Location"] == \
                "https://%s:%s/web/login" % (host, tls_port)
        # Odoo knows it is served over HTTPS (X-Forwarded-Proto, proxy_mode): its redirects stay there.
        home = requests.get(url + "/odoo", verify=ca.file, allow_redirects=False, timeout=30)
        assert urlparse(home.headers["Location"]).scheme in ("", "https"), home.headers
        listed = admin("ops.certificate", "read", [cert_id], ["names", "days_left", "private_key_upload"])[0]
        assert listed["names"] == ",".join(sorted([prod["hostname"], DOMAIN])) and listed["days_left"] >= 88
        assert not listed["private_key_upload"], "the key is never read back"
    finally:
        admin("ops.certificate", "unlink", [cert_id])
        admin("ops.domain", "unlink", [domain_id])
    assert url_of(server, prod) == prod["url"], "back to HTTP without a certificate"
    assert requests.get(prod["url"] + "/web/login", timeout=30).status_code == 200


def test_the_platform_wildcard_comes_from_certbot_s_deploy_hook(server, prod, ca, ops_bin, tmp_path):
    """`odoo-bin ops-proxy --import-cert` (what a certbot deploy hook runs)
    records the platform's certificate for every branch of the project;
    `ops env list` shows the HTTPS URL. A renewal replaces it."""
    wildcard = "*." + prod["hostname"].partition(".")[2]
    manager = server.rpc("e2e_manager")
    for days in (30, 80):  # the first issue, then its renewal
        chain, key = ca.issue([wildcard], days=days)
        (tmp_path / "fullchain.pem").write_text(chain)
        (tmp_path / "privkey.pem").write_text(key)
        proc = subprocess.run(odoo_command(server, "ops-proxy") + [
            "--import-cert", str(tmp_path / "fullchain.pem"), str(tmp_path / "privkey.pem"), "--log-level=warn"],
            capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0 and "recorded" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    certs = manager("ops.certificate", "search_read", [("names", "=", wildcard)], ["project_id", "days_left"])
    try:
        assert len(certs) == 1 and not certs[0]["project_id"] and certs[0]["days_left"] >= 78, certs
        url = url_of(server, prod)
        assert url.startswith("https://"), url
        assert requests.get(url + "/web/login", verify=ca.file, timeout=30).status_code == 200
        listed = ops(ops_bin, server, "e2e_manager", "env", "list", PROD_SLUG)
        assert url in listed.stdout, listed.stdout
    finally:
        manager("ops.certificate", "unlink", [c["id"] for c in certs])
    assert url_of(server, prod) == prod["url"]
