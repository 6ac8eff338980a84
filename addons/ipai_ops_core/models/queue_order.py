"""The one order of the run queue (claims, positions, lists)."""

from odoo.tools import SQL

# The order runs are claimed in (``r``: ops_run, ``e``: its environment): a
# production run or a rollback first; then the run of the project with the
# fewest runs going on (one project's ten builds never hold every slot while
# another project waits: it gets the next free one); then priority, then age.
QUEUE_ORDER = SQL("""coalesce(r.kind = 'rollback' OR e.stage = 'production', false) DESC,
    (SELECT count(*) FROM ops_run busy WHERE busy.project_id = r.project_id
      AND busy.state IN ('claimed', 'running') AND busy.kind != 'shell') ASC,
    r.priority DESC, r.id""")


def queued_runs(env, kinds=None, projects=None, claim=False):
    """The ids of the queued runs in claim order, of ``kinds`` and of the
    projects whose slugs are ``projects`` when given. ``claim``: only the
    first one no other transaction holds, locked until this one ends."""
    env["ops.run"].flush_model(["state", "kind", "priority", "project_id", "environment_id"])
    conditions = [SQL("r.state = 'queued'")]
    if kinds:
        conditions.append(SQL("r.kind = ANY(%s)", list(kinds)))
    if projects:
        conditions.append(SQL("r.project_id IN (SELECT id FROM ops_project WHERE slug = ANY(%s))", list(projects)))
    # A claim meeting a run claimed meanwhile fails to serialize, which the
    # caller expects and retries: not an error for the log.
    env.cr.execute(SQL("SELECT r.id FROM ops_run r LEFT JOIN ops_environment e ON e.id = r.environment_id "
                       "WHERE %s ORDER BY %s%s", SQL(" AND ").join(conditions), QUEUE_ORDER,
                       SQL(" LIMIT 1 FOR NO KEY UPDATE OF r SKIP LOCKED") if claim else SQL()),
                   log_exceptions=not claim)
    return [row[0] for row in env.cr.fetchall()]
