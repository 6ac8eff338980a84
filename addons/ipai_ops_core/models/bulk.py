"""Actions on many records at once (the server actions in the Action menu
of list views, and automation rules): each record under the caller's own
rights and the stage matrix, never inline work, only runs queued; one
notification says what was queued and what was refused, and why."""

from odoo import _
from odoo.exceptions import AccessError, MissingError, UserError, ValidationError


def each(records, verb, act):
    """``act(record)`` for each record, in a savepoint of its own; returns
    the client notification (also what XML-RPC callers read: ``params``
    holds ``done`` and ``refused``)."""
    done, refused = [], []
    for record in records:
        try:
            with record.env.cr.savepoint():
                outcome = act(record)
            done.append("%s: %s" % (record.display_name, outcome) if isinstance(outcome, str) else
                        record.display_name)
        except (AccessError, MissingError, UserError, ValidationError) as exc:
            refused.append("%s: %s" % (record.display_name, str(exc).splitlines()[0] if str(exc) else exc))
    lines = []
    if done:
        lines.append(_("%(verb)s %(count)d: %(names)s", verb=verb, count=len(done), names="; ".join(done)))
    if refused:
        lines.append(_("Refused %(count)d: %(names)s", count=len(refused), names="; ".join(refused)))
    return {
        "type": "ir.actions.client", "tag": "display_notification",
        "params": {"title": verb, "message": "\n".join(lines) or _("Nothing selected."),
                   "type": "warning" if refused else "success", "sticky": bool(refused),
                   "done": done, "refused": refused,
                   "next": {"type": "ir.actions.client", "tag": "soft_reload"}},
    }
