"""Conformance of the data plane over real sockets (the toxic behaviour of docs/toxiproxy-api.md).

Timing bounds: the lower bound is what the toxic promises (minus 2 ms of clock noise); the upper
bound adds slack for a 2-core machine shared with other test runs (stated per test)."""

from __future__ import annotations

import socket
import struct
import threading
import time

import httpx
import pytest
from toxiproxy_helpers import (
    EchoServer,
    ScriptServer,
    connect,
    port_open,
    read_exactly,
    read_until_eof,
    wait_closed,
)

SLACK_S = 0.040  # scheduling slack on a loaded machine, on top of the promised delay


def _proxy(api: httpx.Client, upstream: str, name: str = "dp") -> str:
    reply = api.post("/proxies", json={"name": name, "upstream": upstream, "listen": "127.0.0.1:0"})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["listen"])


def _toxic(api: httpx.Client, proxy: str = "dp", **body: object) -> dict:
    reply = api.post(f"/proxies/{proxy}/toxics", json=body)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _rtt(sock: socket.socket, payload: bytes) -> float:
    start = time.monotonic()
    sender = threading.Thread(target=sock.sendall, args=(payload,))
    sender.start()
    assert read_exactly(sock, len(payload)) == payload
    sender.join()
    return time.monotonic() - start


def test_bytes_intact(api: httpx.Client, echo: EchoServer) -> None:
    """Small, 64 KB and many small writes come back byte for byte (``_rtt`` compares them);
    with no toxic the proxy adds no delay, and a latency toxic added to the open connection
    delays its next round trip by at least its latency, bytes still intact."""
    listen = _proxy(api, echo.address)
    with connect(listen) as sock:
        assert _rtt(sock, b"hello") < SLACK_S
        big = bytes(range(256)) * 256
        _rtt(sock, big)
        for i in range(50):
            sock.sendall(f"{i:04d}".encode())
        assert read_exactly(sock, 200) == "".join(f"{i:04d}" for i in range(50)).encode()
        _toxic(api, type="latency", stream="downstream", attributes={"latency": 100, "jitter": 0})
        assert 0.100 - 0.002 <= _rtt(sock, b"late") <= 0.100 + SLACK_S


def test_dead_upstream_gives_eof(api: httpx.Client) -> None:
    """An upstream that refuses connections: the client is accepted, then sees EOF in < 500 ms."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    try:
        listen = _proxy(api, f"127.0.0.1:{holder.getsockname()[1]}")
        with connect(listen) as sock:
            assert wait_closed(sock, 2.0) < 0.5
    finally:
        holder.close()


def test_listen_changes(api: httpx.Client, echo: EchoServer) -> None:
    """Changing listen to port 0 moves the port (old connections closed); the same port given by
    hostname keeps the connections."""
    listen = _proxy(api, echo.address)
    with connect(listen) as sock:
        _rtt(sock, b"a")
        moved = api.post("/proxies/dp", json={"listen": "127.0.0.1:0"}).json()["listen"]
        assert moved != listen and not port_open(listen)
        wait_closed(sock, 2.0)
    with connect(moved) as sock:
        _rtt(sock, b"b")
        port = moved.rsplit(":", 1)[1]
        same = api.post("/proxies/dp", json={"listen": f"localhost:{port}"}).json()["listen"]
        assert same == moved
        _rtt(sock, b"c")


@pytest.mark.parametrize(
    ("toxics", "expected_s", "jitter_s"),
    [
        ([("upstream", 100, 0)], 0.100, 0.0),
        ([("downstream", 100, 0)], 0.100, 0.0),
        ([("upstream", 100, 0), ("downstream", 100, 0)], 0.200, 0.0),
        ([("upstream", 1000, 100)], 1.000, 0.100),
        ([("upstream", 500, 0), ("upstream", 500, 0)], 1.000, 0.0),
    ],
    ids=["up100", "down100", "both100", "1000+-100", "500+500"],
)
def test_latency(api: httpx.Client, echo: EchoServer, toxics: list[tuple[str, int, int]],
                 expected_s: float, jitter_s: float) -> None:
    """Latency toxics on 32 KB: the round trip is the sum of the toxics' latencies, within jitter
    (and 40 ms of slack above); two upstream toxics add up."""
    listen = _proxy(api, echo.address)
    for index, (stream, latency, jitter) in enumerate(toxics):
        _toxic(api, name=f"l{index}", type="latency", stream=stream,
               attributes={"latency": latency, "jitter": jitter})
    with connect(listen) as sock:
        elapsed = _rtt(sock, b"z" * 32768)
    assert expected_s - jitter_s - 0.002 <= elapsed <= expected_s + jitter_s + SLACK_S


def test_thousand_rounds_add_connect_remove(api: httpx.Client, echo: EchoServer) -> None:
    """1000 rounds of add toxic / connect / write / close / remove toxic never hang."""
    listen = _proxy(api, echo.address)
    start = time.monotonic()
    for _ in range(1000):
        _toxic(api, name="t", type="latency", stream="upstream", attributes={"latency": 0})
        with connect(listen, timeout=5.0) as sock:
            sock.sendall(b"x")
            assert sock.recv(1) == b"x"
        assert api.delete("/proxies/dp/toxics/t").status_code == 204
    assert time.monotonic() - start < 60


def test_bandwidth(api: httpx.Client, echo: EchoServer) -> None:
    """Bandwidth 1000 KB/s upstream on 480,000 B: 480 ms (+/- 10 ms; 40 ms slack above), intact."""
    listen = _proxy(api, echo.address)
    _toxic(api, type="bandwidth", stream="upstream", attributes={"rate": 1000})
    payload = bytes(i % 251 for i in range(480_000))
    with connect(listen) as sock:
        elapsed = _rtt(sock, payload)
    assert 0.470 <= elapsed <= 0.490 + SLACK_S


def test_numbered_writes_survive_toxic_churn(api: httpx.Client) -> None:
    """65,535 numbered writes while toxics are added and removed: nothing lost or reordered,
    then EOF reaches the upstream."""
    received: list[bytes] = []
    done = threading.Event()

    def collect(conn: socket.socket) -> None:
        received.append(read_until_eof(conn))
        done.set()

    sink = ScriptServer(collect)
    try:
        listen = _proxy(api, sink.address)
        sock = connect(listen)
        writer = threading.Thread(target=lambda: [sock.sendall(struct.pack(">H", i))
                                                  for i in range(65535)])
        writer.start()
        kinds = [("latency", {"latency": 1}), ("noop", {}), ("slicer", {"average_size": 3}),
                 ("bandwidth", {"rate": 100_000}), ("latency", {"latency": 0})]
        rounds = 0
        while writer.is_alive() or rounds < 10:
            kind, attrs = kinds[rounds % len(kinds)]
            _toxic(api, name=f"c{rounds % 3}", type=kind, stream="upstream", attributes=attrs)
            if rounds % 3 == 2:
                for n in range(3):
                    assert api.delete(f"/proxies/dp/toxics/c{n}").status_code == 204
            rounds += 1
        writer.join()
        sock.close()
        assert done.wait(10), "upstream never saw EOF"
        data = received[0]
        assert len(data) == 65535 * 2
        numbers = struct.unpack(f">{65535}H", data)
        assert numbers == tuple(range(65535))
    finally:
        sink.close()


def test_timeout_toxic(api: httpx.Client) -> None:
    """Timeout 0 behind a latency toxic: removing the latency takes < 1 s; removing the timeout
    gives both ends EOF within 1 s."""
    upstream_eof = threading.Event()

    def echo_then_note(conn: socket.socket) -> None:
        while data := conn.recv(65536):
            conn.sendall(data)
        upstream_eof.set()

    server = ScriptServer(echo_then_note)
    try:
        listen = _proxy(api, server.address)
        _toxic(api, name="lat", type="latency", attributes={"latency": 2000})
        _toxic(api, name="to", type="timeout", attributes={"timeout": 0})
        with connect(listen) as sock:
            sock.sendall(b"held")
            time.sleep(0.1)
            start = time.monotonic()
            assert api.delete("/proxies/dp/toxics/lat").status_code == 204
            assert time.monotonic() - start < 1.0
            start = time.monotonic()
            assert api.delete("/proxies/dp/toxics/to").status_code == 204
            assert wait_closed(sock, 2.0) < 1.0
            assert upstream_eof.wait(1.0)
    finally:
        server.close()


def test_timeout_toxicity_update(api: httpx.Client, echo: EchoServer) -> None:
    """Timeout at toxicity 0 passes data; updated to toxicity 1 and 100 ms: EOF within 150 ms."""
    listen = _proxy(api, echo.address)
    _toxic(api, name="to", type="timeout", toxicity=0.0, attributes={"timeout": 0})
    with connect(listen) as sock:
        assert _rtt(sock, b"pass") < SLACK_S  # toxicity 0: passed at once, not held
        api.post("/proxies/dp/toxics/to", json={"toxicity": 1.0, "attributes": {"timeout": 100}})
        assert wait_closed(sock, 2.0) < 0.150 + SLACK_S


@pytest.mark.parametrize(("stream", "timeout_ms"), [("upstream", 0), ("upstream", 100),
                                                    ("downstream", 100)])
def test_reset_peer(api: httpx.Client, echo: EchoServer, stream: str, timeout_ms: int) -> None:
    """reset_peer: the client's read fails with ECONNRESET after about the timeout."""
    listen = _proxy(api, echo.address)
    _toxic(api, type="reset_peer", stream=stream, attributes={"timeout": timeout_ms})
    with connect(listen) as sock:
        start = time.monotonic()
        sock.sendall(b"boom")
        with pytest.raises(ConnectionResetError):
            while sock.recv(100):
                pass
        elapsed = time.monotonic() - start
    assert timeout_ms / 1000 - 0.002 <= elapsed <= timeout_ms / 1000 + SLACK_S


def test_slicer_delivers_everything(api: httpx.Client, echo: EchoServer) -> None:
    """Slicer 1024 +/- 512 with 100 us delay on 480 KB: all bytes arrive, in order, in many
    reads (the exact piece counts are checked on the split itself in the unit tests)."""
    listen = _proxy(api, echo.address)
    _toxic(api, type="slicer", attributes={"average_size": 1024, "size_variation": 512, "delay": 100})
    payload = bytes(i % 253 for i in range(480_000))
    with connect(listen) as sock:
        _rtt(sock, payload)
    small = _toxic(api, proxy="dp", name="tiny", type="slicer", stream="upstream",
                   attributes={"average_size": 1, "delay": 2000})
    assert small["attributes"]["average_size"] == 1
    with connect(listen) as sock:
        sock.sendall(b"abcdefghijklmnopqrstuvwx")
        reads = []
        while sum(map(len, reads)) < 24:
            reads.append(sock.recv(24))
        assert b"".join(reads) == b"abcdefghijklmnopqrstuvwx"
        assert len(reads) >= 6  # pieces 2 ms apart arrive in separate reads


@pytest.mark.parametrize(
    ("limit", "writes", "expected"),
    [(100, [50], 50), (100, [100], 100), (100, [150], 100), (100, [25, 25, 25, 25], 100),
     (100, [90, 20], 100), (0, [10], 0)],
    ids=["50", "100", "150", "4x25", "90+20", "zero"],
)
def test_limit_data(api: httpx.Client, limit: int, writes: list[int], expected: int) -> None:
    """limit_data upstream: at most `limit` bytes reach the upstream, the crossing write cut
    exactly, then the connection closes (both ends see EOF); under the limit it stays open."""
    got = bytearray()
    closed = threading.Event()

    def collect(conn: socket.socket) -> None:
        while data := conn.recv(65536):
            got.extend(data)
        closed.set()

    sink = ScriptServer(collect)
    try:
        listen = _proxy(api, sink.address)
        _toxic(api, type="limit_data", stream="upstream", attributes={"bytes": limit})
        payload = bytes(range(sum(writes)))
        with connect(listen) as sock:
            offset = 0
            for size in writes:
                sock.sendall(payload[offset:offset + size])
                offset += size
                time.sleep(0.02)
            if expected < limit:
                time.sleep(0.2)
                assert bytes(got) == payload[:expected] and not closed.is_set()
                return
            wait_closed(sock, 3.0)
            assert closed.wait(3.0)
            assert bytes(got) == payload[:expected]
    finally:
        sink.close()


def test_slow_close_and_toxicity(api: httpx.Client, echo: EchoServer) -> None:
    """slow_close delays the close by `delay`; latency at toxicity 0 never acts, at 1 always."""
    listen = _proxy(api, echo.address)
    _toxic(api, name="sc", type="slow_close", attributes={"delay": 300})
    with connect(listen) as sock:
        _rtt(sock, b"x")
        start = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        assert wait_closed(sock, 3.0) >= 0.300 - 0.002
        assert time.monotonic() - start <= 0.300 + SLACK_S
    api.delete("/proxies/dp/toxics/sc")
    _toxic(api, name="never", type="latency", toxicity=0.0, attributes={"latency": 300})
    with connect(listen) as sock:
        assert _rtt(sock, b"y") < 0.150
    api.post("/proxies/dp/toxics/never", json={"toxicity": 1.0})
    with connect(listen) as sock:
        assert _rtt(sock, b"y") >= 0.298


def test_api_never_hangs_while_traffic_is_stuck(api: httpx.Client, echo: EchoServer) -> None:
    """A client that writes 8 MB and never reads stalls both directions (full buffers at every
    stage); adding, updating and removing toxics on both streams still answers within 1 s each,
    and deleting the proxy cuts the stuck connection."""
    listen = _proxy(api, echo.address)
    sock = connect(listen)
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and sent < 8 << 20:
        try:
            sent += sock.send(b"s" * 65536)
        except BlockingIOError:
            time.sleep(0.01)
    for round_ in range(5):
        for stream in ("upstream", "downstream"):
            for method, path, body in (
                ("POST", "/proxies/dp/toxics", {"name": f"{stream}{round_}", "type": "latency",
                                                "stream": stream, "attributes": {"latency": 5}}),
                ("POST", f"/proxies/dp/toxics/{stream}{round_}", {"attributes": {"latency": 1}}),
                ("DELETE", f"/proxies/dp/toxics/{stream}{round_}", None),
            ):
                start = time.monotonic()
                reply = api.request(method, path, json=body)
                assert reply.status_code in (200, 204), reply.text
                assert time.monotonic() - start < 1.0, (method, path)
    start = time.monotonic()
    assert api.delete("/proxies/dp").status_code == 204
    assert time.monotonic() - start < 1.0
    sock.setblocking(True)
    wait_closed(sock, 3.0)
    sock.close()


def test_reset_keeps_open_connections(api: httpx.Client, echo: EchoServer) -> None:
    """/reset removes a latency toxic from a live connection: it stays open and loses the delay;
    bytes the toxic held are delivered, in order."""
    listen = _proxy(api, echo.address)
    _toxic(api, type="latency", attributes={"latency": 300})
    with connect(listen) as sock:
        sock.sendall(b"held")
        time.sleep(0.05)
        assert api.post("/reset").status_code == 204
        assert read_exactly(sock, 4) == b"held"
        assert _rtt(sock, b"fast") < 0.150
