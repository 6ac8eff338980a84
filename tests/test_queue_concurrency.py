"""Many workers, one queue: no run is claimed twice and none is lost.

Six threads, each its own XML-RPC connection to a real Odoo server (so each
claim runs in its own database connection and transaction), race to claim
60 queued runs."""

import threading
import xmlrpc.client
from collections import Counter

WORKERS = 6
RUNS = 60


def test_concurrent_claims_never_collide(server):
    owner = server.rpc("e2e_owner")
    queued = [owner("ops.run", "queue_run", {"project": "e2e-shop", "kind": "start",
                                              "environment_id": server.envs["feature/base"],
                                              "idempotency_key": "conc-%d" % i})["id"] for i in range(RUNS)]
    assert len(set(queued)) == RUNS

    barrier = threading.Barrier(WORKERS)
    claims = {i: [] for i in range(WORKERS)}
    errors = []

    def work(index):
        proxy = xmlrpc.client.ServerProxy("%s/xmlrpc/2/object" % server.url, allow_none=True)
        uid, key = server.uids["e2e_worker"], server.keys["e2e_worker"]
        barrier.wait()
        try:
            while True:
                run = proxy.execute_kw(server.db, uid, key, "ops.run", "claim_next_run",
                                       ["w-%d" % index, ["start"]], {})
                if not run:
                    return
                claims[index].append(run["id"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors

    all_claims = [run_id for ids in claims.values() for run_id in ids]
    duplicates = [run_id for run_id, n in Counter(all_claims).items() if n > 1]
    assert not duplicates, "claimed twice: %s" % duplicates
    assert sorted(all_claims) == sorted(queued), "lost runs: %s" % (set(queued) - set(all_claims))
    busy = [i for i, ids in claims.items() if ids]
    assert len(busy) >= 4, "claims were not concurrent: %s" % {i: len(ids) for i, ids in claims.items()}

    # The database agrees: every run claimed once, by the worker that got it.
    rows = owner("ops.run", "search_read", [("id", "in", queued)], fields=["state", "claimed_by"])
    owner_of = {run_id: "w-%d" % i for i, ids in claims.items() for run_id in ids}
    assert all(r["state"] == "claimed" and r["claimed_by"] == owner_of[r["id"]] for r in rows)
    claim_events = owner("ops.run.event", "search_read", [("run_id", "in", queued), ("kind", "=", "state")],
                         fields=["run_id", "message"])
    per_run = Counter(e["run_id"][0] for e in claim_events if e["message"].startswith("Claimed by"))
    assert set(per_run.values()) == {1} and len(per_run) == RUNS
