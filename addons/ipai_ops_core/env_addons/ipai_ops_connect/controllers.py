"""The landing of a Connect link: the control plane stored the SHA-256 of a
random token and its expiry in this database (``ir_config_parameter``, key
``ipai_ops.connect.<sha256>``, value: expiry as Unix time); the first visit
that brings the token before it expires logs the visitor in as the
database's administrator and removes it. A second or a late visit fails."""

import hashlib
import logging
import time

from odoo import SUPERUSER_ID, api, http
from odoo.http import request

_logger = logging.getLogger(__name__)
PREFIX = "ipai_ops.connect."
REFUSED = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Link not valid</title></head>
<body style="font-family:system-ui,sans-serif;margin:15vh auto;max-width:32em;text-align:center">
<h1>This link is not valid</h1><p>Connect links work once, within a minute. Ask the platform for a new one.</p>
</body></html>"""


class Connect(http.Controller):
    @http.route("/ipai_ops/connect", type="http", auth="none", methods=["GET"], csrf=False, sitemap=False)
    def connect(self, token=None, **_kw):
        if not request.db or not isinstance(token, str) or not 20 <= len(token) <= 200:
            return request.make_response(REFUSED, status=403, headers=[("Content-Type", "text/html")])
        key = PREFIX + hashlib.sha256(token.encode()).hexdigest()
        cr = request.env.cr
        # Taken once: the row goes with the first visit, whether in time or not.
        cr.execute("DELETE FROM ir_config_parameter WHERE key = %s RETURNING value", [key])
        row = cr.fetchone()
        now = time.time()
        cr.execute("DELETE FROM ir_config_parameter WHERE key LIKE %s AND value::float < %s",
                   [PREFIX.replace("_", "\\_") + "%", now])
        if not row or float(row[0]) < now:
            cr.commit()
            _logger.warning("ipai ops connect: refused a link (%s)", "expired" if row else "unknown or used")
            return request.make_response(REFUSED, status=403, headers=[("Content-Type", "text/html")])
        env = api.Environment(cr, SUPERUSER_ID, {})
        admin = env.ref("base.user_admin")
        session = request.session
        session.logout(keep_db=True)
        # Items, not attributes: 19.0's Session has __slots__ (an attribute raises), 17.0 and 18.0 take both.
        session["pre_login"], session["pre_uid"] = admin.login, admin.id
        session.finalize(env)
        cr.commit()
        _logger.info("ipai ops connect: logged in as %s through a platform link", admin.login)
        # /web: the backend on 17.0 (which has no /odoo), 18.0 and 19.0 (which send it on to /odoo)
        return request.redirect("/web", local=True)
