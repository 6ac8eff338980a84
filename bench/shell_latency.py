#!/usr/bin/env python3
"""Shell latency through the relay: a keystroke sent as a websocket frame
until its echo comes back, through services/shell_session.py and a real
`docker exec` with a terminal, the relay's frames made by wsproto (now)
against the hand-written framing it replaced (issue 24), same run, turn about.

A container of the runtime image (`cat` under a TTY: the terminal echoes
each key at once) and, per implementation and round, a session relayed over
a socket pair (the HTTP server's socket in real use), --keys keystrokes one
after the other: p50, p95 and max from sending the frame to reading the
echo. The baseline is services/websocket.py as it was at --baseline-rev,
read from git (never copied into the tree) and put behind the relay's calls.

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/shell_latency.py'
Prints a table and a JSON line.
"""

import argparse
import json
import os
import socket
import statistics
import struct
import sys
import threading
import time
import types

import docker
from websocket import ABNF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import git_baseline  # noqa: E402
from backup_restore import odoo_setup  # noqa: E402

MODULE = "addons/ipai_ops_core/services/websocket.py"
BASELINE_REV = "060a425"  # the last commit with the hand-written framing
IMAGE = "ipai-ops/odoo:18.0"


def _baseline(rev):
    old = git_baseline.at(rev, "websocket_old", MODULE)

    class Endpoint:
        def __init__(self):
            self.reader = old.Reader()

        def feed(self, data):
            return self.reader.feed(data)

        def frame(self, opcode, payload=b""):
            return old.frame(opcode, payload)

    shim = types.SimpleNamespace(**{k: getattr(old, k) for k in ("TEXT", "BINARY", "CLOSE", "PING", "PONG",
                                                                 "ProtocolError")})
    shim.Endpoint = Endpoint
    return shim


class Client:
    """The terminal's end: masked frames out, the relay's frames in."""

    def __init__(self, sock):
        self.sock, self.buffer = sock, b""

    def send(self, data):
        self.sock.sendall(ABNF(fin=1, opcode=ABNF.OPCODE_BINARY, data=data, mask_value=1).format())

    def message(self):
        while True:
            if len(self.buffer) >= 2:
                size, offset = self.buffer[1] & 0x7F, 2
                if size == 126:
                    size, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
                elif size == 127:
                    size, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
                if len(self.buffer) >= offset + size:
                    opcode, payload = self.buffer[0] & 0x0F, self.buffer[offset:offset + size]
                    self.buffer = self.buffer[offset + size:]
                    return opcode, payload
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the relay closed the connection")
            self.buffer += data


def _session(shell_session, engine, container_id, keys):
    server, client_sock = socket.socketpair()
    relay = shell_session.Session(server, engine, container_id, ["cat"], tty=True, idle_timeout=120)
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    client = Client(client_sock)
    client.send(b"ready\r")
    seen = b""
    while b"ready" not in seen:
        seen += client.message()[1]
    latencies = []
    for i in range(keys):
        key = b"abcdefghij"[i % 10:i % 10 + 1]
        started = time.perf_counter()
        client.send(key)
        while True:
            opcode, payload = client.message()
            if opcode == 2 and key in payload:
                break
        latencies.append(time.perf_counter() - started)
    client_sock.sendall(ABNF(fin=1, opcode=ABNF.OPCODE_CLOSE, data=struct.pack("!H", 1000), mask_value=1).format())
    thread.join(30)
    client_sock.close()
    server.close()
    latencies.sort()
    return {"p50_ms": statistics.median(latencies) * 1000, "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
            "max_ms": latencies[-1] * 1000, "keys": keys}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    args = parser.parse_args()
    odoo_setup()
    from odoo.addons.ipai_ops_core.services import (  # noqa: PLC0415 -- once on the path
        runtime,
        shell_session,
        websocket,
    )

    client = docker.from_env()
    container = client.containers.run(IMAGE, ["sleep", "infinity"], entrypoint=[], detach=True,
                                      network_mode="none", labels={"ipai-ops.bench": "shell-latency"})
    engine, results = runtime.connect(), {}
    try:
        implementations = (("wsproto", websocket), ("hand-written", _baseline(args.baseline_rev)))
        for _round in range(args.rounds):
            for name, module in implementations:
                shell_session.websocket = module
                results.setdefault(name, []).append(_session(shell_session, engine, container.id, args.keys))
    finally:
        shell_session.websocket = websocket
        container.remove(force=True)
    summary = {"bench": "shell_latency", "keys": args.keys, "rounds": args.rounds,
               "baseline_rev": args.baseline_rev}
    print("%-13s %8s %8s %8s" % ("framing", "p50 ms", "p95 ms", "max ms"))
    for name, rounds in results.items():
        merged = {k: statistics.median(r[k] for r in rounds) for k in ("p50_ms", "p95_ms")}
        merged["max_ms"] = max(r["max_ms"] for r in rounds)
        summary[name.replace("-", "_")] = {k: round(v, 3) for k, v in merged.items()}
        print("%-13s %8.2f %8.2f %8.2f" % (name, merged["p50_ms"], merged["p95_ms"], merged["max_ms"]))
    summary["p50_ratio"] = round(summary["wsproto"]["p50_ms"] / summary["hand_written"]["p50_ms"], 3)
    summary["p95_ratio"] = round(summary["wsproto"]["p95_ms"] / summary["hand_written"]["p95_ms"], 3)
    print("wsproto / hand-written: p50 %.2f, p95 %.2f" % (summary["p50_ratio"], summary["p95_ratio"]))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
