"""What the isolation tests run inside real environment containers: every
credential a container can see tried on its own and another database
(``probe_from``), and reachability checks (TCP, HTTP through a proxy or
not, PostgreSQL, SMTP with its login) as its own user or as root
(``net_probe``)."""

import json

PROBE = r"""
import configparser, json, os, psycopg2
found = []
conf = configparser.ConfigParser()
conf.read("/etc/odoo/odoo.conf")
opts = dict(conf["options"]) if conf.has_section("options") else {}
if opts.get("db_user"):
    found.append((opts["db_user"], opts.get("db_password") or ""))
for key, value in os.environ.items():
    if "PASS" in key.upper() or "PGPASS" in key.upper():
        found.append((os.environ.get("PGUSER", "postgres"), value))
cmdline = open("/proc/1/cmdline", "rb").read().split(b"\0")
found += [(user, pw) for user in ("postgres", "ipai_ops") for _user, pw in found[:] + [("", "")]]
results = {"found": [u for u, _p in found], "own": None, "target": []}
host, port = opts.get("db_host", "127.0.0.1"), int(opts.get("db_port", 5432))
try:
    psycopg2.connect(host=host, port=port, user=opts["db_user"], password=opts["db_password"],
                     dbname=os.environ["OWN_DB"], connect_timeout=5).close()
    results["own"] = "ok"
except Exception as exc:
    results["own"] = str(exc)
for user, pw in found:
    try:
        psycopg2.connect(host=host, port=port, user=user, password=pw, dbname=os.environ["TARGET_DB"],
                         connect_timeout=5).close()
        results["target"].append([user, "CONNECTED"])
    except Exception as exc:
        results["target"].append([user, str(exc).strip().splitlines()[0]])
results["cmdline"] = b" ".join(cmdline).decode("utf-8", "replace")
print("PROBE " + json.dumps(results))
"""


def probe_from(container_id, own_db, target_db):
    """From inside a running environment container: every credential it can
    see, tried on its own database and on ``target_db``."""
    import docker

    container = docker.from_env().containers.get(container_id)
    code, out = container.exec_run(["python3", "-c", PROBE], environment={"OWN_DB": own_db, "TARGET_DB": target_db})
    line = [ln for ln in out.decode().splitlines() if ln.startswith("PROBE ")]
    assert code == 0 and line, out.decode()[-2000:]
    return json.loads(line[0][len("PROBE "):])


NET_PROBE = r"""
import concurrent.futures, configparser, json, os, smtplib, socket, sys, urllib.request
checks = json.loads(sys.argv[1])
# The checks name their proxy themselves: the container's NO_PROXY must not bypass it.
for name in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
    os.environ.pop(name, None)
conf = configparser.ConfigParser()
conf.read("/etc/odoo/odoo.conf")
own = dict(conf["options"]) if conf.has_section("options") else {}


def tcp(host, port):
    sock = socket.socket()
    sock.settimeout(4)
    try:
        sock.connect((host, int(port)))
        return "open"
    except socket.timeout:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__
    finally:
        sock.close()


def http(url, proxy=None, headers=None):
    handler = urllib.request.ProxyHandler({"http": proxy} if proxy else {})
    request = urllib.request.Request(url, headers=headers or {})
    try:
        return urllib.request.build_opener(handler).open(request, timeout=6).status
    except urllib.error.HTTPError as exc:
        return exc.code
    except Exception as exc:
        return type(getattr(exc, "reason", exc)).__name__


def pg(params):
    import psycopg2
    params = dict(params)
    if params.pop("own", False):
        params.update(user=own["db_user"], password=own["db_password"])
    try:
        psycopg2.connect(connect_timeout=4, **params).close()
        return "CONNECTED"
    except Exception as exc:
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def smtp(host, port):
    try:
        client = smtplib.SMTP(host, int(port), timeout=6)
        client.login(own["smtp_user"], own["smtp_password"])
        client.quit()
        return "AUTH OK"
    except Exception as exc:
        return type(exc).__name__


def run(check):
    if "tcp" in check:
        return tcp(*check["tcp"])
    if "http" in check:
        return http(check["http"], check.get("proxy"), check.get("headers"))
    if "pg" in check:
        return pg(check["pg"])
    if "smtp" in check:
        return smtp(*check["smtp"])
    if "path" in check:
        return "present" if os.path.exists(check["path"]) else "absent"
    return "unknown check"


with concurrent.futures.ThreadPoolExecutor(max_workers=48) as pool:
    results = dict(zip([c["id"] for c in checks], pool.map(run, checks)))
print("NETPROBE " + json.dumps({"results": results, "uid": os.getuid(), "own_db_host": own.get("db_host")}))
"""


def net_probe(container_id, checks, user=None, client=None):
    """Run ``checks`` from inside a container (as its own user, or ``user``:
    "0" for root): {"results": {check id: outcome}, "uid", "own_db_host"}.
    A check is {"id", and one of "tcp": [host, port] ("open", "timeout",
    "ConnectionRefusedError"...), "http": url (+ "proxy", "headers"; the
    status or the error's name), "pg": connection parameters ("own": true
    for the container's own credentials; "CONNECTED" or the server's
    message), "smtp": [host, port] (with its own login: "AUTH OK"), "path"}.
    ``client``: the engine that runs the container (this machine's by default)."""
    import docker

    container = (client or docker.from_env()).containers.get(container_id)
    code, out = container.exec_run(["python3", "-c", NET_PROBE, json.dumps(checks)], user=user or "")
    line = [ln for ln in out.decode().splitlines() if ln.startswith("NETPROBE ")]
    assert code == 0 and line, out.decode()[-3000:]
    return json.loads(line[0][len("NETPROBE "):])

