"""Actions on many records at once (the server actions in the Action menu
of list views, and automation rules): each record under the caller's own
rights and the stage matrix, never inline work, only runs queued; one
notification says what was queued and what was refused, and why."""

from odoo.exceptions import AccessError, MissingError, UserError, ValidationError


def each(records, verb, act, nothing=None):
    """``act(record)`` for each record, in a savepoint of its own; returns
    the client notification (also what XML-RPC callers read: ``params``
    holds ``done`` and ``refused``). Its title says what happened: ``verb``
    ("Backup queued") when every record was done, "``verb``: 1 of 3" when
    only some were, ``nothing`` ("No backup queued") when none was;
    the last two are warnings, kept on screen."""
    done, refused = [], []
    for record in records:
        try:
            with record.env.cr.savepoint():
                outcome = act(record)
            done.append("%s: %s" % (record.display_name, outcome) if isinstance(outcome, str) else
                        record.display_name)
        except (AccessError, MissingError, UserError, ValidationError) as exc:
            refused.append("%s: %s" % (record.display_name, str(exc).splitlines()[0] if str(exc) else exc))
    _ = records.env._  # translated in the caller's language (a plain function has no env of its own)
    lines = []
    if done:
        lines.append(_("%(verb)s %(count)d: %(names)s", verb=verb, count=len(done), names="; ".join(done)))
    if refused:
        lines.append(_("Refused %(count)d: %(names)s", count=len(refused), names="; ".join(refused)))
    if not records:
        title = _("Nothing selected")
    elif not done:
        title = nothing or _("Nothing done")
    elif refused:
        title = _("%(verb)s: %(done)d of %(total)d", verb=verb, done=len(done), total=len(records))
    else:
        title = verb
    return {
        "type": "ir.actions.client", "tag": "display_notification",
        "params": {"title": title, "message": "\n".join(lines) or _("Nothing selected."),
                   "type": "success" if done and not refused else "warning", "sticky": bool(refused),
                   "done": done, "refused": refused,
                   "next": {"type": "ir.actions.client", "tag": "soft_reload"}},
    }
