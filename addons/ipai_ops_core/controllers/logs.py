"""Download an environment's kept log (every rotated segment, then the live
file, oldest first) as one text file. ``bearer`` authentication like the
backup download: an API key (the CLI) or the browser session (the Logs
tab). The stage matrix decides, as for reading the log."""

import logging
import os

from odoo import _, http
from odoo.exceptions import AccessError, UserError
from odoo.http import content_disposition, request

_logger = logging.getLogger(__name__)
CHUNK = 1024 * 1024


def _stream(fds):
    try:
        for fd in fds:
            offset = 0
            while True:
                data = os.pread(fd, CHUNK, offset)
                if not data:
                    break
                offset += len(data)
                yield data
    finally:
        for fd in fds:
            os.close(fd)


class OpsLogsController(http.Controller):
    @http.route("/ipai_ops/environment/<int:env_id>/logs", type="http", auth="bearer", methods=["GET"],
                readonly=True)
    def download(self, env_id, **_kwargs):
        env = request.env["ops.environment"].browse(env_id).exists()
        try:
            if not env:
                raise UserError(_("No environment %s.", env_id))
            env._ops_check_logs()
        except AccessError as exc:
            return request.make_json_response({"error": str(exc)}, status=403)
        except UserError as exc:
            return request.make_json_response({"error": str(exc)}, status=404)
        fds = env._ops_env_log().files()
        _logger.info("ops: log of environment %s downloaded by %s", env_id, request.env.user.login)
        name = "%s-%s-odoo.log" % (env.project_id.slug, env.branch or env.id)
        return request.make_response(_stream(fds), headers=[
            ("Content-Type", "text/plain; charset=utf-8"), ("Content-Disposition", content_disposition(name))])
