"""Whether a TCP port of the loopback is free (nothing listens on it)."""

import socket


def bindable(port, host="127.0.0.1"):
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
