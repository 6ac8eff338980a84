"""ops incident ...: what the alert rules opened, and acknowledging it."""

from .output import emit, table


def cmd_incident_list(client, args):
    incidents = client.call("ops.incident", "list_incidents", open_only=args.open, limit=args.limit)
    if not args.json:
        for incident in incidents:
            incident.pop("evidence", None)
    emit(args, incidents, table(incidents, ["id", "opened_at", "severity", "state", "project_id", "environment_id",
                                            "name", "acknowledged_by_id", "resolved_at"]))


def cmd_incident_ack(client, args):
    client.call("ops.incident", "acknowledge", [args.incident])
    emit(args, {"id": args.incident, "state": "acknowledged"}, "incident %d acknowledged" % args.incident)
