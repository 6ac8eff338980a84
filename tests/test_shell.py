"""Shells through the control plane: `ops env shell` with piped commands
(and its transcript), `--odoo` against the environment's database, a real
PTY with its size, Ctrl-C and exit; a session whose client disappears or
stays idle leaves no process behind; who may open one follows the stage
matrix."""

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
import xmlrpc.client

import pytest
from conftest import PROD_SLUG, refresh_prod
from e2e import logs_of, ops, production_container, run_worker, shell


def cli_env(server, login):
    return dict(os.environ, OPS_URL=server.url, OPS_DB=server.db, OPS_LOGIN=login, OPS_API_KEY=server.keys[login])


def last_shell_run(server, prod):
    manager = server.rpc("e2e_manager")
    return manager("ops.run", "search_read", [("environment_id", "=", prod["id"]), ("kind", "=", "shell")],
                   ["state", "requested_by_id", "exit_code", "error_message"], order="id desc", limit=1)[0]


def container_processes(server, prod, needle):
    code, out = production_container(server, prod).exec_run(
        ["python3", "-c", "import os\nfor p in os.listdir('/proc'):\n    if p.isdigit():\n        try:\n"
         "            print(open('/proc/%s/cmdline' % p, 'rb').read().replace(b'\\0', b' ').decode())\n"
         "        except OSError:\n            pass\n"])
    assert code == 0, out
    return [line for line in out.decode().splitlines() if needle in line and "python3 -c" not in line]


def test_piped_commands_run_in_the_container_and_are_kept_in_a_transcript(server, prod, prod_members, ops_bin):
    done = subprocess.run([ops_bin, "env", "shell", PROD_SLUG, "main"],
                          input="echo $HOSTNAME; python3 -c 'print(6*7)'\n", capture_output=True,
                          text=True, timeout=120, env=cli_env(server, "e2e_admin"))
    assert done.returncode == 0, done
    hostname = production_container(server, prod).attrs["Config"]["Hostname"]
    assert done.stdout.split() == [hostname, "42"], done
    run = last_shell_run(server, prod)
    assert run["state"] == "succeeded" and run["exit_code"] == 0, run
    transcript = server.rpc("e2e_admin")("ops.run", "shell_transcript", [run["id"]])
    assert "user e2e_admin" in transcript and "print(6*7)" in transcript and "\n42\n" in transcript, transcript
    with pytest.raises(xmlrpc.client.Fault, match="may not"):
        server.rpc("e2e_tester")("ops.run", "shell_transcript", [run["id"]])


def test_odoo_shell_counts_what_xmlrpc_counts(server, prod, prod_members, ops_bin):
    done = subprocess.run([ops_bin, "env", "shell", PROD_SLUG, "main", "--odoo"],
                          input="print('COUNT', env['res.partner'].search_count([]))\n",
                          capture_output=True, text=True, timeout=180, env=cli_env(server, "e2e_admin"))
    assert done.returncode == 0, done
    counted = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("COUNT ")]
    proxy = xmlrpc.client.ServerProxy("%s/xmlrpc/2/object" % prod["url"], allow_none=True)
    expected = proxy.execute_kw(prod["database_name"], 2, prod["password"], "res.partner", "search_count", [[]])
    assert counted == [str(expected)], (done.stdout, done.stderr[-2000:])


def read_until(fd, needle, timeout=30):
    seen, deadline = b"", time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, "%r not seen in %r" % (needle, seen[-2000:])
        if select.select([fd], [], [], left)[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_a_terminal_gets_a_pty_its_size_and_ctrl_c(server, prod, prod_members, ops_bin):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 37, 101, 0, 0))
    proc = subprocess.Popen([ops_bin, "env", "shell", PROD_SLUG, "main"], stdin=slave, stdout=slave, stderr=slave,
                            env=cli_env(server, "e2e_admin"), start_new_session=True)
    os.close(slave)
    try:
        prompt = read_until(master, b"$ ")  # the remote prompt: typing starts when a human would
        # It says where this is: production, in red (Odoo.sh's colour), and which environment.
        assert b"\x1b[1;31mproduction\x1b[0m %s/main " % PROD_SLUG.encode() in prompt, prompt
        os.write(master, b"tty; stty size\r")
        assert b"37 101" in read_until(master, b"37 101"), "the remote PTY has the terminal's size"
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
        os.killpg(proc.pid, signal.SIGWINCH)
        time.sleep(0.5)
        os.write(master, b"stty size\r")
        read_until(master, b"50 120")
        os.write(master, b"sleep 300\r")
        time.sleep(1)
        os.write(master, b"\x03")  # Ctrl-C interrupts the remote sleep, not the session
        os.write(master, b"echo after-$((6*7))\r")
        read_until(master, b"after-42", timeout=10)
        os.write(master, b"exit 3\r")
        assert proc.wait(timeout=30) == 3, "the remote exit code"
    finally:
        proc.kill()
        os.close(master)


def shell_running(server, prod, ops_bin, command):
    """`ops env shell` without a terminal, ``command`` typed in and running in the container."""
    proc = subprocess.Popen([ops_bin, "env", "shell", PROD_SLUG, "main"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(server, "e2e_admin"))
    proc.stdin.write(command.encode() + b"\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while not container_processes(server, prod, command):
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("%r never started" % command)
        time.sleep(0.3)
    return proc


def test_a_lost_client_leaves_no_process_behind(server, prod, prod_members, ops_bin):
    proc = shell_running(server, prod, ops_bin, "sleep 4321")
    proc.kill()  # the client vanishes: no close frame, no end of input
    proc.wait()
    deadline = time.monotonic() + 20
    while container_processes(server, prod, "sleep 4321"):
        assert time.monotonic() < deadline, "the session's processes outlived its client"
        time.sleep(0.3)
    deadline = time.monotonic() + 20
    while last_shell_run(server, prod)["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.3)


def test_an_idle_session_ends(server, prod, prod_members, ops_bin):
    # signal_changes: the server's cached parameters are dropped on its next request
    shell(server, "env['ir.config_parameter'].set_param('ipai_ops.shell_idle_timeout', '2'); env.cr.commit(); "
                  "env.registry.signal_changes()")
    try:
        proc = subprocess.Popen([ops_bin, "env", "shell", PROD_SLUG, "main"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(server, "e2e_admin"))
        proc.stdin.write(b"sleep 4322\n")
        proc.stdin.flush()
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode != 0 and b"shell ended: idle for 2 s" in err, err
        assert not container_processes(server, prod, "sleep 4322")
        transcript = server.rpc("e2e_admin")("ops.run", "shell_transcript", [last_shell_run(server, prod)["id"]])
        assert "sleep 4322" in transcript and "4321" not in transcript and "6*7" not in transcript, \
            "a transcript holds its own session only"
    finally:
        shell(server, "env['ir.config_parameter'].set_param('ipai_ops.shell_idle_timeout', False); env.cr.commit(); "
                      "env.registry.signal_changes()")


def test_only_admins_open_a_shell_on_production(server, prod, prod_members, ops_bin):
    for login in ("e2e_dev", "e2e_tester"):
        with pytest.raises(xmlrpc.client.Fault, match="may not run 'shell' on production"):
            server.rpc(login)("ops.environment", "shell_open", [prod["id"]])
    refused = ops(ops_bin, server, "e2e_dev", "env", "shell", PROD_SLUG, "main")
    assert refused.returncode == 1 and "role: developer" in refused.stderr and "'shell'" in refused.stderr, refused


def test_a_token_works_once(server, prod, prod_members):
    import websocket

    opened = server.rpc("e2e_admin")("ops.environment", "shell_open", [prod["id"]], tty=False)
    url = "ws" + server.url[4:] + opened["path"]
    with pytest.raises(websocket.WebSocketBadStatusException) as wrong:
        websocket.create_connection(url, header=["X-Ops-Shell-Token: not-the-token"], timeout=10)
    assert wrong.value.status_code == 403
    ws = websocket.create_connection(url, header=["X-Ops-Shell-Token: %s" % opened["token"]], timeout=30)
    with pytest.raises(websocket.WebSocketBadStatusException) as again:
        websocket.create_connection(url, header=["X-Ops-Shell-Token: %s" % opened["token"]], timeout=10)
    assert again.value.status_code == 403
    ws.send('{"eof": true}')
    ws.close()
    for bad in ({"odoo": "yes"}, {"rows": 0}, {"cols": 10**6}):
        with pytest.raises(xmlrpc.client.Fault, match="true or false|from 1 to 1000"):
            server.rpc("e2e_admin")("ops.environment", "shell_open", [prod["id"]], **bad)


def test_a_redeploy_ends_the_session(server, prod, prod_members, ops_bin):
    """The container a session runs in is retired by a switch: the session
    ends and says why."""
    proc = shell_running(server, prod, ops_bin, "sleep 4323")
    try:
        manager = server.rpc("e2e_manager")
        queued = manager("ops.run", "queue_run", {"project": PROD_SLUG, "kind": "deploy", "environment_id": prod["id"]})
        run_worker(server, projects=PROD_SLUG)
        run = manager("ops.run", "api_read", [queued["id"]])
        assert run["state"] == "succeeded", (run["error_message"], logs_of(manager, queued["id"])[-2000:])
        refresh_prod(server, prod)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0 and b"shell ended: the environment's container stopped" in err, err
    assert last_shell_run(server, prod)["state"] == "succeeded"


def test_the_web_terminal_path_a_browser_takes(server, prod, prod_members):
    """What the form's Shell button does: xterm.js served from the addon,
    the token as the second websocket subprotocol (a browser cannot set
    headers), a PTY."""
    import requests
    import websocket

    assert requests.get(server.url + "/ipai_ops_core/static/lib/xterm/xterm.js", timeout=30).status_code == 200
    action = server.rpc("e2e_admin")("ops.environment", "action_open_shell", [prod["id"]])
    assert action["tag"] == "ipai_ops_core.env_terminal" and action["params"]["environment_id"] == prod["id"]
    opened = server.rpc("e2e_admin")("ops.environment", "shell_open", [prod["id"]], tty=True, rows=30, cols=90)
    assert "token" not in opened["path"]
    ws = websocket.create_connection("ws" + server.url[4:] + opened["path"], timeout=30,
                                     subprotocols=["ipai-ops-shell", opened["token"]])
    try:
        assert ws.getsubprotocol() == "ipai-ops-shell"
        ws.send_binary(b"stty size; echo web-$((6*7))\r")
        seen = b""
        while b"web-42" not in seen:
            opcode, data = ws.recv_data()
            assert opcode == websocket.ABNF.OPCODE_BINARY, (opcode, data)
            seen += data[1:]
        assert b"30 90" in seen, seen
        ws.send_binary(b"exit\r")
        while True:
            opcode, data = ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_TEXT:
                assert b'"exit": 0' in data, data
                break
    finally:
        ws.close()
    with pytest.raises(xmlrpc.client.Fault, match="may not run 'shell' on production"):
        server.rpc("e2e_dev")("ops.environment", "action_open_shell", [prod["id"]])
