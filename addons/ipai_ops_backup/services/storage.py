"""Off-site copies of backups in S3-compatible object storage.

Plain values in: ``settings`` = {endpoint, bucket, access_key, secret_key,
region}. A backup directory becomes the objects ``<prefix>/<relative path>``;
its manifest goes last, so an object store that has the manifest has the
whole backup (and the manifest's sha256 sums check the rest on the way back).
"""

import os

MANIFEST = "manifest.json"


class StorageError(Exception):
    """An object storage operation failed; ``str(error)`` is meant for the user."""


def _client(settings):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=settings.get("endpoint") or None, aws_access_key_id=settings["access_key"],
        aws_secret_access_key=settings["secret_key"], region_name=settings.get("region") or "us-east-1",
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=120))


def _errors():
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def url(settings, prefix):
    return "s3://%s/%s" % (settings["bucket"], prefix)


def upload_dir(settings, local_dir, prefix):
    """Upload every file of ``local_dir`` under ``prefix``, the manifest last."""
    client = _client(settings)
    files = []
    for folder, _dirs, names in os.walk(local_dir):
        for name in names:
            rel = os.path.relpath(os.path.join(folder, name), local_dir)
            files.append(rel)
    files.sort(key=lambda rel: (rel == MANIFEST, rel))
    try:
        for rel in files:
            client.upload_file(os.path.join(local_dir, rel), settings["bucket"], "%s/%s" % (prefix, rel))
    except _errors() as exc:
        raise StorageError("Uploading to %s failed: %s" % (url(settings, prefix), exc)) from exc
    return url(settings, prefix)


def _keys(client, settings, prefix):
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings["bucket"], Prefix=prefix + "/"):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def download_dir(settings, prefix, local_dir):
    """Download the objects under ``prefix`` into the new ``local_dir``."""
    client = _client(settings)
    try:
        keys = _keys(client, settings, prefix)
        if "%s/%s" % (prefix, MANIFEST) not in keys:
            raise StorageError("%s has no complete backup (no manifest)." % url(settings, prefix))
        root = os.path.realpath(local_dir)
        for key in keys:
            dest = os.path.realpath(os.path.join(root, key[len(prefix) + 1:]))
            if not dest.startswith(root + os.sep):
                raise StorageError("Refused object key outside the backup: %r" % key)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            client.download_file(settings["bucket"], key, dest)
    except _errors() as exc:
        raise StorageError("Downloading %s failed: %s" % (url(settings, prefix), exc)) from exc
    return local_dir


def delete_prefix(settings, prefix):
    client = _client(settings)
    try:
        keys = _keys(client, settings, prefix)
        for start in range(0, len(keys), 1000):
            client.delete_objects(Bucket=settings["bucket"], Delete={
                "Objects": [{"Key": key} for key in keys[start:start + 1000]], "Quiet": True})
    except _errors() as exc:
        raise StorageError("Deleting %s failed: %s" % (url(settings, prefix), exc)) from exc
    return len(keys)
