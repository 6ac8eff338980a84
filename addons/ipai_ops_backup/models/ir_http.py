import json

from odoo import models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.http import request
from werkzeug.exceptions import HTTPException

from ..controllers.backup import IMPORT_ROUTE, MAX_UPLOAD


class _Refused(HTTPException):
    """An answer given before the request's body is read."""

    def __init__(self, status, error):
        super().__init__(description=error)
        self.code = status
        self._body = json.dumps({"error": error})

    def get_response(self, environ=None, scope=None):
        return request.make_response(self._body, headers=[("Content-Type", "application/json")],
                                     status=self.code)


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _pre_dispatch(cls, rule, args):
        result = super()._pre_dispatch(rule, args)
        if rule.rule == IMPORT_ROUTE:
            cls._ops_check_upload()
        return result

    @classmethod
    def _ops_check_upload(cls):
        """Everything an upload is judged on, before Odoo reads its body:
        the caller (authenticated already), the CSRF token of a browser
        session, the target environment and the caller's role there, the
        size. A refused upload leaves no byte on disk."""
        httprequest = request.httprequest
        httprequest.max_content_length = MAX_UPLOAD
        if not httprequest.headers.get("Authorization"):
            token = httprequest.headers.get("X-CSRF-Token") or httprequest.args.get("csrf_token")
            if not token or not request.validate_csrf(token):
                raise _Refused(403, "A browser upload needs Odoo's CSRF token (X-CSRF-Token header or csrf_token "
                                    "parameter); the ops CLI uses an API key.")
        length = httprequest.content_length
        if length is None:
            raise _Refused(411, "Send the upload with a Content-Length.")
        if length > MAX_UPLOAD:
            raise _Refused(413, "The upload is larger than %d bytes." % MAX_UPLOAD)
        try:
            request.env["ops.backup"]._ops_import_target(httprequest.args.get("environment_id", ""))
        except AccessError as exc:
            raise _Refused(403, str(exc)) from exc
        except (UserError, ValidationError) as exc:
            raise _Refused(400, str(exc)) from exc
