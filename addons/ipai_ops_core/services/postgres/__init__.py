"""PostgreSQL roles and databases of the projects, through psycopg2.

Plain values in: ``admin`` is a dict of connection parameters
(``host``, ``port``, ``user``, ``password``; optionally ``dbname``, the
maintenance database, default ``postgres``, ``sslmode`` and
``connect_timeout``). Every function opens and closes its own connection in
autocommit mode (CREATE / DROP DATABASE cannot run in a transaction).

Every name is validated with :mod:`naming` before a connection is opened,
and reaches SQL only through :class:`psycopg2.sql.Identifier`; values (such
as passwords) only as query parameters.

Isolation model: each project has a LOGIN role (no superuser, no CREATEDB,
no CREATEROLE) owning its databases; ``CONNECT`` on those databases is
revoked from ``PUBLIC``, so one project's role cannot connect to another
project's database. The admin user is made a member of every project role,
which is what lets it create, copy and drop databases owned by them.
"""

from ._base import CONNECT_TIMEOUT, RESERVED_DATABASES, RESERVED_ROLES, TEMPLATE_COPY_ATTEMPTS, PostgresError
from .databases import (
                        advisory_lock,
                        create_database,
                        database_activity,
                        database_comment,
                        database_exists,
                        database_owner,
                        database_size,
                        databases_owned_by,
                        drop_database,
                        list_databases,
                        revoke_public_connect,
                        set_database_comment,
)
from .odoo_facts import MAIN_TABLES, module_states, row_counts
from .ownership import adopt_database, reassign_objects
from .roles import drop_role, ensure_role, list_roles, role_exists
