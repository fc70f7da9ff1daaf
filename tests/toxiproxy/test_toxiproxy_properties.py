"""Property tests of the control API's input handling (hypothesis).

Arbitrary JSON bodies and arbitrary bytes, to every endpoint, must get a 2xx or 4xx (a listen
address that cannot be bound is the one 500, with Go's ``listen tcp`` message), never another
5xx, a hang or a crash; afterwards the server's open file descriptors are back at baseline."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toxiproxy_helpers import EchoServer, api_client

ENDPOINTS = [
    ("GET", "/proxies"), ("POST", "/proxies"), ("POST", "/populate"), ("POST", "/reset"),
    ("GET", "/version"), ("GET", "/proxies/hp"), ("POST", "/proxies/hp"), ("PATCH", "/proxies/hp"),
    ("DELETE", "/proxies/hp"), ("GET", "/proxies/hp/toxics"), ("POST", "/proxies/hp/toxics"),
    ("GET", "/proxies/hp/toxics/ht"), ("POST", "/proxies/hp/toxics/ht"),
    ("PATCH", "/proxies/hp/toxics/ht"), ("DELETE", "/proxies/hp/toxics/ht"),
    ("PUT", "/proxies"), ("GET", "/proxies/missing/toxics/x"), ("POST", "/nowhere"),
]
SETTINGS = settings(max_examples=80, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) \
    | st.text(max_size=12)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_addresses = st.sampled_from(["", "127.0.0.1:0", "localhost:0", "[::1]:0", "nope", "127.0.0.1:",
                              "127.0.0.1:99999", ":0", "1.2.3.4.5:0", "[::1", "127.0.0.1:x"])
_attributes = st.dictionaries(
    st.sampled_from(["latency", "jitter", "rate", "delay", "timeout", "average_size",
                     "size_variation", "bytes", "other"]),
    _scalars, max_size=4)
_proxy_like = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["hp", "p2", ""]) | _scalars, "listen": _addresses | _scalars,
    "upstream": _addresses | _scalars, "enabled": st.booleans() | _scalars, "toxics": _json})
_toxic_like = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["ht", "t2", ""]) | _scalars,
    "type": st.sampled_from(["latency", "bandwidth", "slow_close", "timeout", "reset_peer",
                             "slicer", "limit_data", "noop", "down"]) | _scalars,
    "stream": st.sampled_from(["upstream", "downstream", "UPSTREAM", ""]) | _scalars,
    "toxicity": _scalars, "attributes": _attributes | _json})
_bodies = _json | _proxy_like | _toxic_like | st.lists(_proxy_like, max_size=3)


def _fresh_state(api: httpx.Client, upstream: str) -> None:
    for name in api.get("/proxies").json():
        assert api.delete(f"/proxies/{name}").status_code == 204
    assert api.post("/proxies", json={"name": "hp", "upstream": upstream}).status_code == 201
    assert api.post("/proxies/hp/toxics", json={"name": "ht", "type": "latency"}).status_code == 200


def _acceptable(reply: httpx.Response) -> bool:
    if 200 <= reply.status_code < 500:
        return True
    return reply.status_code == 500 and reply.json()["error"].startswith("listen tcp")


@pytest.fixture
def server_fds(embedded_server: Any) -> Any:
    """The server process; after the test its fd count must come back to the baseline."""
    process = psutil.Process(embedded_server.child.pid)
    with api_client(embedded_server.url) as api:
        for name in api.get("/proxies").json():
            api.delete(f"/proxies/{name}")
    time.sleep(0.2)
    baseline = process.num_fds()
    yield process
    deadline = time.monotonic() + 10
    while process.num_fds() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.num_fds() <= baseline, f"fds {process.num_fds()} > baseline {baseline}"
    assert process.is_running()


@SETTINGS
@given(endpoint=st.sampled_from(ENDPOINTS), body=_bodies)
def test_json_bodies(embedded_server: Any, echo: EchoServer, server_fds: Any,
                     endpoint: tuple[str, str], body: object) -> None:
    """Any JSON body to any endpoint: 2xx/4xx (or the bind 500), the JSON error shape, no hang."""
    method, path = endpoint
    with api_client(embedded_server.url) as api:
        _fresh_state(api, echo.address)
        reply = api.request(method, path, content=json.dumps(body).encode())
        assert _acceptable(reply), (method, path, body, reply.status_code, reply.text)
        if reply.status_code >= 400 and reply.headers["content-type"].startswith("application/json"):
            assert reply.json()["status"] == reply.status_code
        for name in api.get("/proxies").json():
            api.delete(f"/proxies/{name}")


@SETTINGS
@given(endpoint=st.sampled_from(ENDPOINTS), body=st.binary(max_size=300))
def test_byte_bodies(embedded_server: Any, server_fds: Any, endpoint: tuple[str, str],
                     body: bytes) -> None:
    """Arbitrary bytes as the body of any endpoint: 2xx/4xx, never a 5xx or a hang."""
    method, path = endpoint
    with api_client(embedded_server.url) as api:
        reply = api.request(method, path, content=body)
        assert _acceptable(reply), (method, path, body, reply.status_code, reply.text)
        for name in api.get("/proxies").json():
            api.delete(f"/proxies/{name}")


@SETTINGS
@given(raw=st.binary(max_size=400) | st.builds(
    lambda m, p, rest: m + b" " + p + b" HTTP/1.1\r\n" + rest,
    st.sampled_from([b"GET", b"POST", b"DELETE", b"get", b"BREW"]),
    st.sampled_from([b"/proxies", b"/version", b"/populate", b"/%zz", b"*", b"/proxies/%00"]),
    st.binary(max_size=200)))
def test_raw_bytes_on_the_socket(embedded_server: Any, server_fds: Any, raw: bytes) -> None:
    """Arbitrary bytes on the API socket (then EOF): either a 2xx/4xx HTTP answer or a close,
    within 5 s; the server keeps serving."""
    host, port = embedded_server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        answer = bytearray()
        while data := sock.recv(65536):
            answer += data
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert answer.startswith(b"HTTP/1.1 ") and 200 <= status < 500, bytes(answer[:200])
    assert httpx.get(embedded_server.url + "/version").status_code == 200


def _exchange(sock: socket.socket, raw: bytes) -> bytes:
    """Send ``raw`` and read one answer (up to the server closing or 2 s of quiet)."""
    sock.sendall(raw)
    answer = bytearray()
    sock.settimeout(2.0)
    try:
        while data := sock.recv(65536):
            answer += data
            if b"\r\n\r\n" in answer:
                head, _, body = bytes(answer).partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if len(body) >= (length[0] if length else 0):
                    break
    except TimeoutError:
        pass
    return bytes(answer)


@pytest.mark.parametrize("length", [b"\xb2", b"\xb9", b"\xc2\xb2", b"1\xb3", b"\xd9\xa3",
                                    b"+1", b"1_0", b"0x1", b" 2\xb2 "])
def test_non_ascii_content_length_is_400(embedded_server: Any, length: bytes) -> None:
    """A Content-Length in other than ASCII digits ("²" is a digit to ``str.isdigit``, not to
    ``int``) is answered 400 and the connection closed, never an exception in the connection
    callback; the request before it on the same connection was served, and so is the next
    connection."""
    host, port = embedded_server.url.removeprefix("http://").rsplit(":", 1)
    log_before = embedded_server.child.log_path.stat().st_size
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        first = _exchange(sock, b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 200 "), first
        bad = b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}"
        answer = _exchange(sock, bad)
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        assert b"Content-Length" in answer and b"Connection: close" in answer
        sock.settimeout(2.0)
        assert sock.recv(1) == b""  # closed by the server after the 400
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        again = _exchange(sock, b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        assert again.startswith(b"HTTP/1.1 200 "), again
    with embedded_server.child.log_path.open("rb") as log:
        log.seek(log_before)
        assert b"Traceback" not in log.read()


def test_thousands_of_connections_opened_and_dropped(embedded_server: Any, echo: EchoServer,
                                                     server_fds: Any) -> None:
    """2000 client connections through a proxy, opened and dropped (half of them reset with
    data in flight, some while a toxic is added): the server keeps serving and every socket is
    released (the fd check of `server_fds`)."""
    with api_client(embedded_server.url) as api:
        listen = api.post("/proxies", json={"name": "many", "upstream": echo.address}).json()["listen"]
        host, port = listen.rsplit(":", 1)
        for index in range(2000):
            sock = socket.create_connection((host, int(port)), timeout=5)
            if index % 2:
                sock.sendall(b"data in flight")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            if index == 1000:
                api.post("/proxies/many/toxics", json={"type": "latency", "attributes": {"latency": 1}})
            sock.close()
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"still fine")
            assert sock.recv(10) == b"still fine"
        assert api.delete("/proxies/many").status_code == 204
