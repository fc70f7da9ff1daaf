"""Fixtures for the proxy tests: the proxy server as a real subprocess (the embedded one,
and a real ``toxiproxy-server`` when one is on PATH), a per-test API client that leaves the
server empty, and an echo upstream."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from toxiproxy_helpers import EchoServer, api_client

from harness.faults.network import find_toxiproxy_server
from harness.provision.process import ChildProcess, Supervisor
from harness.provision.ready import wait_until


@dataclass
class ServerUnderTest:
    kind: str
    url: str
    child: ChildProcess


def _start_embedded(sup: Supervisor) -> ServerUnderTest:
    child = sup.spawn("toxiproxy", [sys.executable, "-m", "harness.toxiproxy", "--port", "0",
                                    "--seed", "1"])
    found: list[str] = []

    def listening() -> bool:
        for line in child.log_tail(20).splitlines():
            if line.startswith("listening on "):
                found.append(line.removeprefix("listening on ").strip())
        return bool(found)

    wait_until(listening, 15.0, what="embedded toxiproxy", on_timeout=child.log_tail)
    url = f"http://{found[0]}"
    wait_until(lambda: httpx.get(url + "/version").status_code == 200, 10.0, what=url)
    return ServerUnderTest("embedded", url, child)


def _start_real(sup: Supervisor, binary: str) -> ServerUnderTest:
    import socket

    with socket.socket() as s:  # toxiproxy-server cannot report a kernel-chosen port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    child = sup.spawn("toxiproxy-server", [binary, "-host", "127.0.0.1", "-port", str(port)])
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(url + "/version").status_code == 200, 10.0, what=url,
               on_timeout=child.log_tail)
    return ServerUnderTest("toxiproxy-server", url, child)


@pytest.fixture(scope="session")
def _proxy_supervisor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervisor]:
    with Supervisor(tmp_path_factory.mktemp("toxiproxy-logs")) as sup:
        yield sup


@pytest.fixture(scope="session")
def embedded_server(_proxy_supervisor: Supervisor) -> ServerUnderTest:
    return _start_embedded(_proxy_supervisor)


@pytest.fixture(scope="session", params=["embedded", "toxiproxy-server"])
def proxy_server(request: pytest.FixtureRequest, _proxy_supervisor: Supervisor) -> ServerUnderTest:
    """The server under test: embedded always; a real toxiproxy-server when on PATH."""
    if request.param == "embedded":
        return request.getfixturevalue("embedded_server")
    binary = find_toxiproxy_server()
    if binary is None:
        pytest.skip("no toxiproxy-server binary on PATH (it is not installable here)")
    return _start_real(_proxy_supervisor, binary)


@pytest.fixture
def api(proxy_server: ServerUnderTest) -> Iterator[httpx.Client]:
    """An API client; every proxy is deleted after the test, so tests start from `{}`."""
    with api_client(proxy_server.url) as client:
        yield client
        for name in client.get("/proxies").json():
            client.delete(f"/proxies/{name}")


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()
