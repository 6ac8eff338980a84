"""ops backup ...: list, create, restore, download and import backups."""

import os

from .client import CliError
from .output import emit, table

BACKUP_COLUMNS = ["id", "environment", "kind", "state", "started_at", "size", "verify_state"]


def cmd_backup_list(client, args):
    rows = client.call("ops.backup", "list_backups", args.project, limit=args.limit)
    emit(args, rows, table(rows, BACKUP_COLUMNS))


def cmd_backup_create(client, args):
    values = {"project": args.project}
    if args.branch:
        values["branch"] = args.branch
    backup = client.call("ops.backup", "create_backup", values)
    run = client.call("ops.run", "api_read", [backup["run_id"]])
    emit(args, {"backup": backup, "run": run},
          "backup %d of %s queued as run %s (%s)" % (backup["id"], backup["environment"], run["name"], run["state"]))


def cmd_backup_restore(client, args):
    target = args.environment_id
    if args.branch:
        ids = client.call("ops.environment", "search", [("project_id.slug", "=", args.project or ""),
                                                        ("branch", "=", args.branch), ("state", "!=", "destroyed")],
                          limit=1)
        if not ids:
            raise CliError("no live environment for branch %s in project %s" % (args.branch, args.project))
        target = ids[0]
    run = client.call("ops.backup", "restore_backup", [args.backup], target or None)
    emit(args, run, "restore of backup %d queued as run %s (%s)" % (args.backup, run["name"], run["state"]))


def cmd_backup_restore_pitr(client, args):
    run = client.call("ops.pitr", "restore", args.project, args.at, args.to)
    emit(args, run, "restore of %s's production as at %s into %s queued as run %s (%s)" % (
        args.project, args.at, args.to, run["name"], run["state"]))


def cmd_backup_pitr_status(client, args):
    status = client.call("ops.pitr", "status", args.project)
    if not status["on_cluster"]:
        text = "%s: its database is not on production's cluster (no point-in-time recovery yet)" % status["environment"]
    else:
        lag = status.get("lag_seconds")
        text = "\n".join([
            "restorable: %s to %s UTC" % (status["earliest"], status["latest"]),
            "archive: %s behind, last WAL %s at %s%s" % ("?" if lag is None else "%.0fs" % lag, status["last_wal"],
                                                        status["last_archived"],
                                                        ", FAILING" if status["failing"] else ""),
            "repository: %.1f MB, %d backups" % (status["repo_size"] / 1e6, len(status["backups"]))])
    emit(args, status, text)


def cmd_backup_mark_pitr(client, args):
    mark = client.call("ops.pitr", "mark", args.project)
    emit(args, mark, "mark %d at %s UTC: %s" % (mark["id"], mark["target"], ", ".join(
        "%s %s" % (table, low if low == high else "%d-%d" % (low, high))
        for table, (low, high) in sorted(mark["counts"].items()))))


def cmd_backup_drill_pitr(client, args):
    run = client.call("ops.pitr", "drill", args.project, args.mark or False)
    emit(args, run, "point-in-time drill of %s's production queued as run %s (%s)" % (
        args.project, run["name"], run["state"]))


def cmd_backup_recover_cluster(client, args):
    done = client.call("ops.pitr", "recover")
    emit(args, done, "production's cluster rebuilt from its repository in %ss%s" % (
        done["seconds"], "; what was left of it is in %s" % done["kept_aside"] if done["kept_aside"] else ""))


def http_error(response):
    try:
        return response.json().get("error") or response.text
    except ValueError:
        return response.text[:500]


def cmd_backup_download(client, args):
    import requests

    url = "%s/ipai_ops/backup/%d/download" % (client.url, args.backup)
    output = args.output or "backup-%d.zip" % args.backup
    with requests.get(url, headers={"Authorization": "Bearer %s" % client.api_key}, stream=True,
                      timeout=600) as response:
        if response.status_code != 200:
            raise CliError("download refused (%d): %s" % (response.status_code, http_error(response)))
        size = 0
        with open(output + ".part", "wb") as fh:
            for block in response.iter_content(1 << 20):
                fh.write(block)
                size += len(block)
    os.replace(output + ".part", output)
    emit(args, {"path": output, "size": size}, "saved %s (%.1f MB)" % (output, size / 1e6))


class MultipartFile:
    """A multipart/form-data body with one file field, read from disk as it
    is sent; its length is known up front (the server wants it)."""

    def __init__(self, path, field="file"):
        boundary = "ipai-ops-%s" % os.urandom(12).hex()
        self.content_type = "multipart/form-data; boundary=%s" % boundary
        name = os.path.basename(path).replace('"', "")
        head = ('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                "Content-Type: application/zip\r\n\r\n" % (boundary, field, name)).encode()
        tail = ("\r\n--%s--\r\n" % boundary).encode()
        self._parts = [head, None, tail]
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by __exit__
        self._len = len(head) + os.fstat(self._fh.fileno()).st_size + len(tail)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def __len__(self):
        return self._len

    def read(self, size=-1):
        size = size if size and size > 0 else 1 << 20
        while self._parts:
            part = self._parts[0]
            if part is None:
                data = self._fh.read(size)
                if data:
                    return data
                self._parts.pop(0)
                continue
            self._parts.pop(0)
            return part
        return b""


def cmd_backup_import(client, args):
    import requests

    # The target goes in the query string: the server checks it (and the
    # caller's role there) before it reads a byte of the zip, which is
    # streamed from disk, never held in memory.
    url = "%s/ipai_ops/backup/import" % client.url
    with MultipartFile(args.zip) as body:
        response = requests.post(url, params={"environment_id": str(args.environment_id)},
                                 headers={"Authorization": "Bearer %s" % client.api_key,
                                          "Content-Type": body.content_type},
                                 data=body, timeout=3600)
    if response.status_code != 202:
        raise CliError("import refused (%d): %s" % (response.status_code, http_error(response)))
    run = response.json()["run"]
    emit(args, run, "import queued as run %s (%s)" % (run["name"], run["state"]))
