"""The database manager is off: every /web/database/* route answers 404.

``list_db = False`` in the control plane's configuration already makes
Odoo refuse db.list, dump, drop, restore and the rest over /xmlrpc/2/db,
whatever master password is given; these routes are its web pages and
forms, gone as well. (They are this database's routes: the control plane
always runs with a database filter that selects its one database.)
"""

from odoo import http
from odoo.addons.web.controllers import database
from werkzeug.exceptions import NotFound


def _gone():
    return NotFound("The database manager is turned off on this server.")


class Database(database.Database):
    @http.route()
    def selector(self, **kw):
        raise _gone()

    @http.route()
    def manager(self, **kw):
        raise _gone()

    @http.route()
    def create(self, *args, **kw):  # pylint: disable=method-required-super  # the route is gone, on purpose
        raise _gone()

    @http.route()
    def duplicate(self, *args, **kw):
        raise _gone()

    @http.route()
    def drop(self, *args, **kw):
        raise _gone()

    @http.route()
    def backup(self, *args, **kw):
        raise _gone()

    @http.route()
    def restore(self, *args, **kw):
        raise _gone()

    @http.route()
    def change_password(self, *args, **kw):
        raise _gone()

    # a JSON-RPC route (Odoo keeps a route's type): its answer is the
    # JSON-RPC error "404: Not Found", as for a route that does not exist
    @http.route()
    def list(self, *args, **kw):
        raise _gone()
