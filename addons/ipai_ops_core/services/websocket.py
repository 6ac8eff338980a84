"""The server side of a websocket (RFC 6455) on a socket the HTTP server
handed over (Odoo's threaded and gevent servers put it in
``environ['socket']``), for the shell relay: the handshake's accept token
and the frames, by wsproto (its frame protocol once Odoo's response has
answered the upgrade). Frames from a client must be masked; messages are
joined from their fragments and capped."""

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.utilities import generate_accept_token

# RFC 6455's opcodes, the names the relay speaks in.
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 1024 * 1024  # bytes of one message from the client


class ProtocolError(Exception):
    pass


def accept_key(key):
    """Sec-WebSocket-Accept for the client's Sec-WebSocket-Key."""
    return generate_accept_token(key.encode()).decode()


class Endpoint:
    """One connection's frames: ``feed`` what the socket gave to get whole
    messages (opcode, payload bytes), control frames included; ``frame``
    a message to send. A malformed stream raises ProtocolError."""

    def __init__(self):
        self._connection = Connection(ConnectionType.SERVER)
        self._message = None  # [opcode, chunks, size] while fragments come

    def feed(self, data):
        self._connection.receive_data(data)
        messages = []
        for event in self._connection.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                opcode, chunk = (TEXT, event.data.encode()) if isinstance(event, TextMessage) \
                    else (BINARY, bytes(event.data))
                message = self._message = self._message or [opcode, [], 0]
                message[1].append(chunk)
                message[2] += len(chunk)
                if message[2] > MAX_MESSAGE:
                    raise ProtocolError("message larger than %d bytes" % MAX_MESSAGE)
                if event.message_finished:
                    messages.append((message[0], b"".join(message[1])))
                    self._message = None
            elif isinstance(event, Ping):
                messages.append((PING, bytes(event.payload)))
            elif isinstance(event, Pong):
                messages.append((PONG, bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                if self._connection.state is ConnectionState.OPEN:
                    # wsproto reports a frame it could not parse as a close it did not receive
                    raise ProtocolError(event.reason or "malformed frame (code %d)" % event.code)
                messages.append((CLOSE, event.code.to_bytes(2, "big") if event.code else b""))
        return messages

    def frame(self, opcode, payload=b""):
        """The bytes of one message to the client; nothing once the
        connection is closing (the client's close was answered)."""
        state = self._connection.state
        if opcode == CLOSE:
            if state not in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                return b""
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000
            return self._connection.send(CloseConnection(code=code))
        if state is not ConnectionState.OPEN:
            return b""
        if opcode == TEXT:
            return self._connection.send(TextMessage(data=payload.decode()))
        if opcode == BINARY:
            return self._connection.send(BytesMessage(data=payload))
        if opcode == PING:
            return self._connection.send(Ping(payload=payload))
        if opcode == PONG:
            return self._connection.send(Pong(payload=payload))
        raise ValueError("unknown opcode %r" % opcode)
