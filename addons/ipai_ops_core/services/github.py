"""Commit statuses on GitHub (or a compatible API), plain values in."""

import re

import requests

_REPO_RE = re.compile(r"(?:github\.com|[\w.-]+)[/:]([\w.-]+)/([\w.-]+?)(?:\.git)?/?\Z")
STATES = {"queued": "pending", "running": "pending", "succeeded": "success", "failed": "failure",
          "canceled": "error"}


def repository_of(repo_url):
    """owner/name of a repository URL (https, ssh, scp forms), or None."""
    match = _REPO_RE.search(repo_url or "")
    return "%s/%s" % match.groups() if match else None


def post_status(api_url, token, repository, sha, state, context, description, target_url=None, timeout=10):
    """POST /repos/{owner}/{repo}/statuses/{sha}; returns the HTTP status code."""
    if state not in ("pending", "success", "failure", "error"):
        raise ValueError("invalid commit status state %r" % state)
    response = requests.post(
        "%s/repos/%s/statuses/%s" % (api_url.rstrip("/"), repository, sha),
        json={"state": state, "context": context, "description": description[:140],
              **({"target_url": target_url} if target_url else {})},
        headers={"Authorization": "Bearer %s" % token, "Accept": "application/vnd.github+json"},
        timeout=timeout,
    )
    return response.status_code
