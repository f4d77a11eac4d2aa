"""Leave a consumer group stuck the way the embedded broker (Tansu 0.6.0) can: a member is
chosen to lead the forming group, then leaves before it hands the partitions out; Tansu keeps
it as the leader, and every member that joins after waits for its assignment for ever
(runtime/consumer_groups.py). Spoken in the Kafka protocol directly (JoinGroup and LeaveGroup,
version 0), as librdkafka cannot be made to leave at that moment."""

from __future__ import annotations

import socket
import struct

JOIN_GROUP, LEAVE_GROUP = 11, 13
MEMBER_ID_REQUIRED = 79


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def _bytes(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


class _Connection:
    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.split(",")[0].rsplit(":", 1)
        self._socket = socket.create_connection((host, int(port)), timeout=10)
        self._correlation = 0

    def ask(self, api_key: int, body: bytes) -> bytes:
        """One request (version 0); the response after its correlation id."""
        self._correlation += 1
        request = struct.pack(">hhi", api_key, 0, self._correlation) + _string("stuck-group")
        request += body
        self._socket.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", self._read(4))
        response = self._read(size)
        assert struct.unpack(">i", response[:4])[0] == self._correlation
        return response[4:]

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._socket.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            data += chunk
        return data

    def close(self) -> None:
        self._socket.close()


def _join(conn: _Connection, group: str, topics: list[str], member: str) -> tuple[int, str]:
    metadata = struct.pack(">hi", 0, len(topics)) + b"".join(_string(t) for t in topics)
    metadata += struct.pack(">i", -1)  # no user data
    body = _string(group) + struct.pack(">i", 6000) + _string(member) + _string("consumer")
    body += struct.pack(">i", 1) + _string("range") + _bytes(metadata)
    response = conn.ask(JOIN_GROUP, body)
    (error,) = struct.unpack(">h", response[:2])
    at = 2 + 4  # the generation
    for _ in range(2):  # the protocol, the leader
        (length,) = struct.unpack(">h", response[at : at + 2])
        at += 2 + max(length, 0)
    (length,) = struct.unpack(">h", response[at : at + 2])
    return error, response[at + 2 : at + 2 + length].decode()


def leave_stuck(bootstrap: str, group: str, topics: list[str]) -> None:
    """Join `group` as its first member (its leader) and leave before assigning anything."""
    conn = _Connection(bootstrap)
    try:
        error, member = _join(conn, group, topics, "")
        assert error == MEMBER_ID_REQUIRED, error
        error, joined = _join(conn, group, topics, member)
        assert (error, joined) == (0, member), (error, joined)
        response = conn.ask(LEAVE_GROUP, _string(group) + _string(member))
        assert struct.unpack(">h", response[:2])[0] == 0
    finally:
        conn.close()
