"""The connection to the control plane: configuration, XML-RPC with an API
key, and the errors the CLI prints (one line, exit 1, or 2 for a failed login)."""

import configparser
import os
import xmlrpc.client


class CliError(Exception):
    """An error for the user: printed without a traceback, exit code 1."""

    exit_code = 1


class AuthError(CliError):
    exit_code = 2


def load_config(args):
    path = args.config or os.environ.get("OPS_CONFIG") or os.path.expanduser("~/.config/ipai-ops/config")
    file_values = {}
    if os.path.exists(path):
        parser = configparser.ConfigParser()
        parser.read(path)
        if parser.has_section("ops"):
            file_values = dict(parser.items("ops"))
    elif args.config:
        raise CliError("config file %s not found" % path)

    def pick(flag, env, key, default=None):
        return flag or os.environ.get(env) or file_values.get(key) or default

    cfg = {
        "url": pick(args.url, "OPS_URL", "url", "http://127.0.0.1:8069").rstrip("/"),
        "db": pick(args.db, "OPS_DB", "db"),
        "login": pick(args.login, "OPS_LOGIN", "login"),
        "api_key": pick(None, "OPS_API_KEY", "api_key"),
    }
    missing = [k for k in ("db", "login", "api_key") if not cfg[k]]
    if missing:
        raise CliError(
            "missing %s: set OPS_DB, OPS_LOGIN and OPS_API_KEY (an API key from Odoo: "
            "Preferences > Account Security > New API Key), or put db, login and api_key in [ops] of %s"
            % (", ".join(missing), path)
        )
    return cfg


class Client:
    """Thin XML-RPC client: authenticate once, then execute_kw."""

    def __init__(self, url, db, login, api_key):
        self.url, self.db, self.login, self.api_key = url, db, login, api_key
        try:
            common = xmlrpc.client.ServerProxy("%s/xmlrpc/2/common" % url, allow_none=True)
            self.uid = common.authenticate(db, login, api_key, {})
        except OSError as exc:
            raise CliError("cannot reach %s: %s" % (url, exc)) from exc
        except xmlrpc.client.Fault as exc:
            raise CliError(fault_message(exc)) from exc
        if not self.uid:
            raise AuthError("authentication failed for %s on database %s at %s" % (login, db, url))
        self.models = xmlrpc.client.ServerProxy("%s/xmlrpc/2/object" % url, allow_none=True)

    def call(self, model, method, *args, **kwargs):
        try:
            return self.models.execute_kw(self.db, self.uid, self.api_key, model, method, list(args), kwargs)
        except xmlrpc.client.Fault as exc:
            raise CliError(fault_message(exc)) from exc
        except OSError as exc:
            raise CliError("cannot reach %s: %s" % (self.url, exc)) from exc


def fault_message(fault):
    """The server's whole message on one line: Odoo sends a user, access or
    missing-record error as its text (which may span lines: "Record does not
    exist or has been deleted." then "(Record: ..., User: ...)"), and any
    other failure as a traceback, whose exception lines end it."""
    text = (fault.faultString or "").strip()
    lines = text.splitlines()
    if "Traceback (most recent call last)" in text:
        frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
        rest = lines[frames[-1] + 1:] if frames else lines[-1:]
        lines = [line for line in rest if not line.startswith(" ")] or lines[-1:]
    return " ".join(line.strip() for line in lines if line.strip()) or "server error"
