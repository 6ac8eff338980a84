"""The websocket of a shell session: GET /ipai_ops/shell/<run id>?db=...
with the single-use token of ``ops.environment.shell_open`` in the
``X-Ops-Shell-Token`` header (the CLI) or, from a browser, which cannot set
headers on a websocket, as the second of the subprotocols
``ipai-ops-shell, <token>`` (never in the URL, which servers log). The
session (services/shell_session.py) runs after the 101 answer, in the
request's thread, without holding a database cursor: short cursors open it,
keep its run alive and close it with its transcript.

With a prefork control plane, route /ipai_ops/shell/ to Odoo's gevent port
like /websocket (HTTP workers end requests at limit_time_real)."""

import logging
import time

import odoo
from odoo import SUPERUSER_ID, api, http
from odoo.exceptions import AccessError, UserError
from odoo.http import request
from werkzeug.wrappers import Response

from ..services import runtime, shell_session, websocket

_logger = logging.getLogger(__name__)
PROTOCOL = "ipai-ops-shell"


def _in_transaction(registry, function):
    """``function(env)`` in a short transaction of its own, committed. The
    environment is held until its writes are flushed (a transaction
    flushes only the environments still alive when it commits)."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        result = function(env)
        env.flush_all()
    return result


class OpsShellController(http.Controller):
    @http.route("/ipai_ops/shell/<int:run_id>", type="http", auth="none", methods=["GET"], csrf=False, websocket=True,
                save_session=False)
    def shell(self, run_id, db=None, **_kwargs):
        headers = request.httprequest.headers
        if headers.get("Upgrade", "").lower() != "websocket" or not headers.get("Sec-WebSocket-Key"):
            return Response("A shell is a websocket: use `ops env shell` or the web terminal.\n", status=426,
                            headers=[("Content-Type", "text/plain")])
        if not db or db not in http.db_filter([db]) or db not in http.db_list(force=True):
            return Response("Unknown database.\n", status=404)
        protocols = [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",")]
        token = headers.get("X-Ops-Shell-Token") or (protocols[1] if protocols[0] == PROTOCOL and len(protocols) > 1
                                                      else None)
        registry = odoo.modules.registry.Registry(db)
        try:
            session = _in_transaction(
                registry, lambda env: env["ops.run"].browse(run_id).exists()._ops_shell_claim(token))
        except (AccessError, ValueError) as exc:
            return Response("%s\n" % exc, status=403)
        except UserError as exc:
            return Response("%s\n" % exc, status=409)
        sock = request.httprequest._HTTPRequest__environ["socket"]
        answer = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                  ("Sec-WebSocket-Accept", websocket.accept_key(headers["Sec-WebSocket-Key"]))]
        if protocols[0] == PROTOCOL:
            answer.append(("Sec-WebSocket-Protocol", PROTOCOL))
        response = Response(status=101, headers=answer)
        response.call_on_close(lambda: _serve(registry, run_id, session, sock))
        return response


def _serve(registry, run_id, session, sock):
    started = time.time()

    def heartbeat():
        _in_transaction(registry, lambda env: env["ops.run"].browse(run_id)._ops_shell_heartbeat())

    result = {"exit_code": -1, "reason": "the relay failed", "transcript": b"", "truncated": False}
    try:
        sock.settimeout(60)
        engine = runtime.connect(session["docker_url"], session.get("runtime_kind") or "docker",
                                 nodes=session.get("node_endpoints"))
        relay = shell_session.Session(
            sock, engine, session["container_id"],
            shell_session.command(session["odoo"], session["database"], session["tty"]), tty=session["tty"],
            size=session["size"], idle_timeout=session["idle_timeout"], heartbeat=heartbeat,
            variables=shell_session.environment(session["tty"], session.get("label"), session.get("stage")))
        result = relay.run()
    except Exception as exc:
        _logger.exception("ops shell: run %s failed", run_id)
        result["reason"] = "the relay failed: %s" % exc
    finally:
        _in_transaction(registry, lambda env: env["ops.run"].browse(run_id)._ops_shell_close(result, started))
        _logger.info("ops shell: run %s ended (%s)", run_id, result["reason"])
