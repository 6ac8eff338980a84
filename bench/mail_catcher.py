#!/usr/bin/env python3
"""Mail catcher throughput: the aiosmtpd server against the hand-written one
it replaced (issue 24), same run, same clients.

Each server listens on a free port of 127.0.0.1 with the same callbacks: a
login check (a dict lookup) and a delivery that keeps the message in memory
(the database write of `ops-mailcatcher` is the same for both and left out:
this measures the SMTP servers). --clients threads each open one connection,
log in (AUTH PLAIN, as Odoo's smtplib does) and send --messages messages of
--size bytes; then the same with a new connection per message (what Odoo
does for each mail). Every message must arrive, intact (dot-stuffing undone).
The baseline is services/mail_catcher.py as it was at --baseline-rev, read
from git (never copied into the tree).

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/mail_catcher.py'
Prints a table and a JSON line.
"""

import argparse
import json
import os
import smtplib
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import git_baseline  # noqa: E402

MODULE = "addons/ipai_ops_core/services/mail_catcher.py"
BASELINE_REV = "060a425"  # the last commit with the hand-written server


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _servers(rev):
    return git_baseline.current("mail_catcher_now", MODULE), git_baseline.at(rev, "mail_catcher_old", MODULE)


def _start(module, kept):
    port = _free_port()
    users = {"env-%d" % i: ("pw-%d" % i, i + 1) for i in range(64)}  # keys are environment ids: never 0

    def authenticate(user, password):
        found = users.get(user)
        return found[1] if found and found[0] == password else None

    server = module.MailCatcher(port, authenticate, lambda *message: kept.append(message))
    if hasattr(server, "start_in_thread"):  # the hand-written one
        server.start_in_thread()
        return port, lambda: (server.shutdown(), server.server_close())
    server.start()
    return port, server.stop


def _body(i, size):
    line = ".dot-stuffed line of the message %d\r\n" % i
    return ("Subject: message %d\r\n\r\n" % i + line * max(1, size // len(line))).encode()


def _phase(port, clients, messages, size, reconnect):
    latencies, errors = [], []

    def client(n):
        try:
            smtp = None if reconnect else smtplib.SMTP("127.0.0.1", port, timeout=30)
            if smtp:
                smtp.login("env-%d" % n, "pw-%d" % n)
            for i in range(messages):
                started = time.perf_counter()
                if reconnect:
                    smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
                    smtp.login("env-%d" % n, "pw-%d" % n)
                smtp.sendmail("shop@example.com", ["c%d@example.com" % i], _body(i, size))
                if reconnect:
                    smtp.quit()
                latencies.append(time.perf_counter() - started)
            if not reconnect:
                smtp.quit()
        except Exception as exc:  # noqa: BLE001 - counted and shown
            errors.append(repr(exc))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"messages": len(latencies), "errors": len(errors), "first_error": errors[0] if errors else None,
            "seconds": round(elapsed, 3), "msg_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 2) if latencies else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--messages", type=int, default=200, help="per client")
    parser.add_argument("--size", type=int, default=20000, help="bytes of each message")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    args = parser.parse_args()
    results = {}
    now, old = _servers(args.baseline_rev)
    for reconnect in (False, True):
        mode = "per message" if reconnect else "one connection"
        count = args.messages // 4 if reconnect else args.messages
        # turn about, twice each: the machine's other work weighs on both alike
        for _round in range(2):
            for name, module in (("aiosmtpd", now), ("hand-written", old)):
                kept = []
                port, stop = _start(module, kept)
                try:
                    figures = _phase(port, args.clients, count, args.size, reconnect)
                finally:
                    stop()
                intact = all(b"\r\n.dot-stuffed line" in data for _key, _frm, _to, data in kept)
                figures["kept"], figures["intact"] = len(kept), intact
                if figures["errors"] or len(kept) != args.clients * count or not intact:
                    sys.exit("%s (%s): %r" % (name, mode, figures))
                results.setdefault(mode, {}).setdefault(name, []).append(figures)
    summary = {"bench": "mail_catcher", "clients": args.clients, "size": args.size,
               "baseline_rev": args.baseline_rev}
    print("%-15s %-13s %10s %9s %9s" % ("connections", "server", "msg/s", "p50 ms", "p95 ms"))
    for mode, servers in results.items():
        best = {}
        for name, rounds in servers.items():
            best[name] = max(rounds, key=lambda f: f["msg_per_s"])
            print("%-15s %-13s %10.1f %9.2f %9.2f" % (mode, name, best[name]["msg_per_s"], best[name]["p50_ms"],
                                                      best[name]["p95_ms"]))
        ratio = best["aiosmtpd"]["msg_per_s"] / best["hand-written"]["msg_per_s"]
        print("%-15s aiosmtpd / hand-written throughput: %.2f" % (mode, ratio))
        summary[mode.replace(" ", "_")] = {"aiosmtpd": best["aiosmtpd"], "hand_written": best["hand-written"],
                                           "throughput_ratio": round(ratio, 3)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
