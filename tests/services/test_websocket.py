"""services/websocket.py, the shell relay's frames, against what a real
client library sends (websocket-client, the one the CLI and tests use) and
against malformed streams."""

import base64
import hashlib
import struct

import pytest
from odoo.addons.ipai_ops_core.services import websocket
from websocket import ABNF


def client_frame(opcode, payload, fin=True):
    """A masked frame as a browser or the CLI sends it."""
    return ABNF(fin=int(fin), opcode=opcode, data=payload, mask_value=1).format()


def test_accept_key_is_rfc_6455s():
    key = base64.b64encode(b"0123456789abcdef").decode()
    expected = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
                                .digest()).decode()
    assert websocket.accept_key(key) == expected


def test_messages_from_a_client_whole_and_in_pieces():
    endpoint = websocket.Endpoint()
    stream = (client_frame(ABNF.OPCODE_BINARY, b"ls -la\r")
              + client_frame(ABNF.OPCODE_TEXT, b'{"resize": [', fin=False)
              + client_frame(ABNF.OPCODE_CONT, b"40, 120]}")
              + client_frame(ABNF.OPCODE_PING, b"are you there"))
    # split anywhere: a frame may arrive over several reads
    messages = endpoint.feed(stream[:5]) + endpoint.feed(stream[5:23]) + endpoint.feed(stream[23:])
    assert messages == [(websocket.BINARY, b"ls -la\r"), (websocket.TEXT, b'{"resize": [40, 120]}'),
                        (websocket.PING, b"are you there")]


def test_frames_to_the_client_are_unmasked_and_readable():
    endpoint = websocket.Endpoint()
    data = endpoint.frame(websocket.BINARY, b"\x01" + b"x" * 70000)
    assert data[0] == 0x82 and data[1] == 127, "final binary frame, 64-bit length, no mask bit"
    assert struct.unpack("!Q", data[2:10])[0] == 70001 and data[10:11] == b"\x01"
    assert endpoint.frame(websocket.TEXT, b'{"exit": 0}') == b'\x81\x0b{"exit": 0}'


def test_unmasked_oversized_and_broken_streams_are_refused():
    with pytest.raises(websocket.ProtocolError):
        websocket.Endpoint().feed(b"\x82\x03abc")  # a client frame without a mask
    endpoint = websocket.Endpoint()
    with pytest.raises(websocket.ProtocolError, match="larger than"):
        for opcode in (ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT, ABNF.OPCODE_CONT):
            endpoint.feed(client_frame(opcode, b"y" * (websocket.MAX_MESSAGE // 2), fin=False))
    with pytest.raises(websocket.ProtocolError):
        websocket.Endpoint().feed(client_frame(ABNF.OPCODE_TEXT, b"\xff\xfe not utf-8"))


def test_a_close_is_answered_once_and_nothing_follows_it():
    endpoint = websocket.Endpoint()
    assert endpoint.feed(client_frame(ABNF.OPCODE_CLOSE, struct.pack("!H", 1000))) == [
        (websocket.CLOSE, struct.pack("!H", 1000))]
    assert endpoint.frame(websocket.TEXT, b'{"exit": 0}') == b"", "the client is gone: no more messages"
    assert endpoint.frame(websocket.CLOSE, struct.pack("!H", 1000)) == b"\x88\x02\x03\xe8"
    assert endpoint.frame(websocket.CLOSE, struct.pack("!H", 1000)) == b""
