"""Download a backup as an Odoo database manager zip; upload such a zip.

Both routes use Odoo's ``bearer`` authentication: an API key in
``Authorization: Bearer ...`` (the ops CLI), or the browser session when a
user follows the link from the backend (an upload from a browser session
also carries Odoo's CSRF token). The role is checked on the server: only a
project's admins and owners (and Ops Managers) get a backup out or in; an
upload is refused before a byte of it is read.
"""

import json
import logging
import os
import uuid
import zipfile

from odoo import _, http
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.http import content_disposition, request
from werkzeug.wsgi import wrap_file

from ..services import backup_store

_logger = logging.getLogger(__name__)
MAX_UPLOAD = 64 * 1024 ** 3
IMPORT_ROUTE = "/ipai_ops/backup/import"


def _json(status, **data):
    return request.make_response(json.dumps(data), headers=[("Content-Type", "application/json")], status=status)


class OpsBackupController(http.Controller):
    @http.route("/ipai_ops/backup/<int:backup_id>/download", type="http", auth="bearer", methods=["GET"],
                readonly=True)
    def download(self, backup_id, **_kwargs):
        backup = request.env["ops.backup"].browse(backup_id).exists()
        try:
            if not backup:
                raise UserError(_("No backup %s.", backup_id))
            backup.check_access("read")
            backup.project_id._ops_check_action(backup.stage, "backup")
        except AccessError as exc:
            return _json(403, error=str(exc))
        except UserError as exc:
            return _json(404, error=str(exc))
        if backup.state != "done" or not backup.location or not os.path.isdir(backup.location):
            return _json(409, error=_("Backup %(backup)s is not available (state %(state)s).", backup=backup_id,
                                              state=backup.state))
        problems = backup_store.verify(backup.location)
        if problems:
            return _json(409, error=_("Backup %(backup)s is damaged: %(problems)s", backup=backup_id,
                                              problems="; ".join(problems[:3])))
        # sudo: reads a configuration parameter; the caller's role was checked above
        exports = os.path.join(backup.sudo()._backup_root(), "exports")
        os.makedirs(exports, exist_ok=True)
        path = os.path.join(exports, "%s.zip" % uuid.uuid4().hex)
        backup_store.export_zip(backup.location, path)
        size = os.path.getsize(path)
        fh = open(path, "rb")  # noqa: SIM115 - closed by the response
        os.unlink(path)  # the open handle keeps the data until the response is sent
        _logger.info("ops: backup %s downloaded by %s", backup_id, request.env.user.login)
        filename = "%s_%s.zip" % (backup.database_name or "backup", (backup.started_at or backup.create_date)
                                  .strftime("%Y-%m-%d_%H-%M-%S"))
        return http.Response(wrap_file(request.httprequest.environ, fh), headers=[
            ("Content-Type", "application/zip"), ("Content-Length", str(size)),
            ("Content-Disposition", content_disposition(filename))], direct_passthrough=True)

    @http.route(IMPORT_ROUTE, type="http", auth="bearer", methods=["POST"], csrf=False)
    def upload(self, **_kwargs):
        """The caller, the target environment (``environment_id`` in the
        query string), the CSRF token (browser sessions) and the size were
        checked before the body was read (ir.http's _pre_dispatch,
        models/ir_http.py). The body is multipart with the zip as ``file``."""
        env_id = request.httprequest.args.get("environment_id", "")
        upload = request.httprequest.files.get("file")
        if not upload:
            return _json(400, error=_("Send the zip as the multipart field 'file' (environment_id in the URL)."))
        root = request.env["ops.backup"].sudo()._import_root()  # sudo: a directory name, no record is read
        path = os.path.join(root, "import-%s.zip" % uuid.uuid4().hex)
        name = os.path.basename(upload.filename or "")
        with open(path, "wb") as fh:  # Odoo's FileStorage.save wants a file object
            upload.save(fh)
        try:
            if not zipfile.is_zipfile(path):
                raise ValidationError(_("The upload is not a zip file."))
            with zipfile.ZipFile(path) as zf:
                if "dump.sql" not in zf.namelist():
                    raise ValidationError(_("The zip has no dump.sql: not a backup from Odoo's database manager."))
            run = request.env["ops.backup"]._import_zip(int(env_id), path, name=name[:200] or None)
        except AccessError as exc:
            os.unlink(path)
            return _json(403, error=str(exc))
        except (UserError, ValidationError) as exc:
            os.unlink(path)
            return _json(400, error=str(exc))
        return _json(202, run=run)
