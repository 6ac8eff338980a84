"""The server side of RFC 6455 on a socket the HTTP server handed over
(Odoo's threaded and gevent servers put it in ``environ['socket']``): the
handshake answer and the frames, for the shell relay. Frames from a client
are masked (refused otherwise); frames to it are not."""

import base64
import hashlib
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 1024 * 1024  # bytes of one message from the client


class ProtocolError(Exception):
    pass


def accept_key(key):
    """Sec-WebSocket-Accept for the client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def frame(opcode, payload=b""):
    """One final, unmasked frame."""
    head = bytes([0x80 | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 1 << 16:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


class Reader:
    """Feed it what the socket gave; it returns whole messages
    (opcode, payload), control frames included, fragments joined."""

    def __init__(self):
        self.buffer = b""
        self.fragments = None

    def feed(self, data):
        self.buffer += data
        messages = []
        while True:
            parsed = self._frame()
            if parsed is None:
                return messages
            final, opcode, payload = parsed
            if opcode >= CLOSE:
                messages.append((opcode, payload))
            elif opcode == CONTINUATION:
                if self.fragments is None:
                    raise ProtocolError("continuation without a first fragment")
                self.fragments[1] += payload
                if final:
                    messages.append(tuple(self.fragments))
                    self.fragments = None
            elif final:
                messages.append((opcode, payload))
            else:
                self.fragments = [opcode, payload]
            if self.fragments and len(self.fragments[1]) > MAX_MESSAGE:
                raise ProtocolError("message larger than %d bytes" % MAX_MESSAGE)

    def _frame(self):
        data = self.buffer
        if len(data) < 2:
            return None
        final, opcode = bool(data[0] & 0x80), data[0] & 0x0F
        if not data[1] & 0x80:
            raise ProtocolError("client frames must be masked")
        size, offset = data[1] & 0x7F, 2
        if size == 126:
            if len(data) < 4:
                return None
            size, offset = struct.unpack("!H", data[2:4])[0], 4
        elif size == 127:
            if len(data) < 10:
                return None
            size, offset = struct.unpack("!Q", data[2:10])[0], 10
        if size > MAX_MESSAGE:
            raise ProtocolError("frame larger than %d bytes" % MAX_MESSAGE)
        if len(data) < offset + 4 + size:
            return None
        mask = data[offset:offset + 4]
        body = data[offset + 4:offset + 4 + size]
        self.buffer = data[offset + 4 + size:]
        keystream = (mask * (size // 4 + 1))[:size]
        payload = (int.from_bytes(body, "big") ^ int.from_bytes(keystream, "big")).to_bytes(size, "big")
        return final, opcode, payload
