"""The one order of the run queue (claims, positions, lists)."""

# The order runs are claimed in (``r``: ops_run, ``e``: its environment): a
# production run or a rollback first; then the run of the project with the
# fewest runs going on (one project's ten builds never hold every slot while
# another project waits: it gets the next free one); then priority, then age.
QUEUE_ORDER = """coalesce(r.kind = 'rollback' OR e.stage = 'production', false) DESC,
    (SELECT count(*) FROM ops_run busy WHERE busy.project_id = r.project_id
      AND busy.state IN ('claimed', 'running') AND busy.kind != 'shell') ASC,
    r.priority DESC, r.id"""
