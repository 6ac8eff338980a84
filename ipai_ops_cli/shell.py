"""ops env shell: a shell (or Odoo's shell) in an environment's container,
through the control plane's websocket. With a terminal, a PTY: raw mode,
window size and its changes, Ctrl-C reaches the remote command. Without
one (piped input), the input is sent as it is and its end closes the
remote input, like ``ssh -T``. Exit code: the remote command's."""

import json
import os
import shutil
import signal
import sys
import threading

from .client import CliError


def _terminal_size():
    size = shutil.get_terminal_size((80, 24))
    return max(1, min(size.lines, 1000)), max(1, min(size.columns, 1000))


def cmd_env_shell(client, args):
    try:
        import websocket
    except ImportError as exc:
        raise CliError("ops env shell needs the websocket-client package (pip install websocket-client)") from exc
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    if args.tty is not None:
        tty = args.tty
    rows, cols = _terminal_size()
    session = client.call("ops.environment", "shell_open_branch", args.project, args.branch, odoo=args.odoo,
                          tty=tty, rows=rows, cols=cols)
    url = ("ws" + client.url[4:] if client.url.startswith("http") else client.url) + session["path"]
    try:
        ws = websocket.create_connection(url, header=["X-Ops-Shell-Token: %s" % session["token"]],
                                         enable_multithread=True, timeout=30)
    except (OSError, websocket.WebSocketException) as exc:
        raise CliError("cannot open the shell's websocket at %s: %s" % (url.split("?")[0], exc)) from exc
    ws.settimeout(None)
    saved = _raw_mode() if tty and sys.stdin.isatty() else None
    if tty:
        signal.signal(signal.SIGWINCH, lambda *_: _send(ws, json.dumps({"resize": list(_terminal_size())})))
    threading.Thread(target=_pump_input, args=(ws, tty), daemon=True).start()
    end = {}
    try:
        while True:
            try:
                opcode, data = ws.recv_data()
            except (websocket.WebSocketConnectionClosedException, OSError):
                break
            if opcode == websocket.ABNF.OPCODE_BINARY and data:
                out = sys.stderr if data[0] == 2 else sys.stdout
                out.buffer.write(data[1:])
                out.flush()
            elif opcode == websocket.ABNF.OPCODE_TEXT:
                end = json.loads(data.decode())
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                break
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
        ws.close()
    if not end:
        raise CliError("the shell's connection was lost")
    if end.get("reason") != "the command exited":
        print("\nops: shell ended: %s" % end.get("reason"), file=sys.stderr)
    code = end.get("exit")
    return code if isinstance(code, int) and 0 <= code < 256 else 1


def _raw_mode():
    import termios
    import tty

    saved = termios.tcgetattr(sys.stdin.fileno())
    tty.setraw(sys.stdin.fileno())
    return saved


def _send(ws, text=None, data=None):
    try:
        if data is not None:
            ws.send_binary(data)
        else:
            ws.send(text)
    except Exception:  # noqa: BLE001 - the session is over; the reader reports why
        pass


def _pump_input(ws, tty):
    fd = sys.stdin.fileno()
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            _send(ws, json.dumps({"eof": True}))
            return
        _send(ws, data=data)
