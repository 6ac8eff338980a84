#!/usr/bin/env python3
"""The shell relay's websocket layer: wsproto (services/websocket.py) against
the hand-written RFC 6455 framing it replaced (issue 24), same run.

What a shell session does per event, timed over --events events each:
  keystroke   one masked 1-byte binary frame from the client, parsed
  paste       one masked 4 KB binary frame from the client, parsed
  output      one 4 KB binary frame to the client, made (a burst of output)
  echo        a keystroke parsed and its 1-byte echo framed (what a typed
              character costs the relay, both ways)
The client frames are made by websocket-client (what the CLI sends). The
rest of a keystroke's path (the socket, Docker's exec stream, the shell)
is the same for both. The baseline is services/websocket.py as it was at
--baseline-rev, read from git (never copied into the tree).

    bash -c 'source scripts/env.sh && PYTHONPATH=$ODOO_SRC $OPS_VENV/bin/python bench/websocket_frames.py'
Prints a table and a JSON line.
"""

import argparse
import json
import os
import sys
import time

from websocket import ABNF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import git_baseline  # noqa: E402

MODULE = "addons/ipai_ops_core/services/websocket.py"
BASELINE_REV = "060a425"  # the last commit with the hand-written framing


class Old:
    """The hand-written module behind the relay's two calls."""

    def __init__(self, module):
        self.module, self.reader = module, module.Reader()

    def feed(self, data):
        return self.reader.feed(data)

    def frame(self, opcode, payload):
        return self.module.frame(opcode, payload)


def _time(label, events, func):
    started = time.perf_counter()
    for _ in range(events):
        func()
    return (time.perf_counter() - started) / events * 1e6


def _cases(endpoint, events):
    key = ABNF(fin=1, opcode=ABNF.OPCODE_BINARY, data=b"a", mask_value=1).format()
    paste = ABNF(fin=1, opcode=ABNF.OPCODE_BINARY, data=b"p" * 4096, mask_value=1).format()
    chunk = b"\x01" + b"o" * 4095
    assert endpoint.feed(key) == [(2, b"a")] and endpoint.feed(paste) == [(2, b"p" * 4096)]

    def echo():
        for _opcode, payload in endpoint.feed(key):
            endpoint.frame(2, b"\x01" + payload)

    return {"keystroke": _time("keystroke", events, lambda: endpoint.feed(key)),
            "paste": _time("paste", events // 10, lambda: endpoint.feed(paste)),
            "output": _time("output", events // 10, lambda: endpoint.frame(2, chunk)),
            "echo": _time("echo", events, echo)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50000)
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    args = parser.parse_args()
    now = git_baseline.current("websocket_now", MODULE)
    old = git_baseline.at(args.baseline_rev, "websocket_old", MODULE)
    best = {}
    for _round in range(3):  # turn about; the best of three of each
        for name, make in (("wsproto", now.Endpoint), ("hand-written", lambda: Old(old))):
            figures = _cases(make(), args.events)
            best[name] = {k: min(v, best.get(name, {}).get(k, v)) for k, v in figures.items()}
    print("%-10s %14s %16s %8s" % ("event", "wsproto us", "hand-written us", "ratio"))
    ratios = {}
    for case in best["wsproto"]:
        ratios[case] = best["wsproto"][case] / best["hand-written"][case]
        print("%-10s %14.2f %16.2f %8.2f" % (case, best["wsproto"][case], best["hand-written"][case], ratios[case]))
    print(json.dumps({"bench": "websocket_frames", "events": args.events, "baseline_rev": args.baseline_rev,
                      "microseconds": {k: {c: round(v, 3) for c, v in d.items()} for k, d in best.items()},
                      "ratio": {k: round(v, 3) for k, v in ratios.items()}}))


if __name__ == "__main__":
    main()
