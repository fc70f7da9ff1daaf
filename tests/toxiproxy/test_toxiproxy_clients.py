"""Existing clients against the embedded server: the PyPI ``toxiproxy-python`` package (the
design card's client) and the harness' own ``ProxyClient``."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from toxiproxy_helpers import EchoServer, connect, read_exactly

from harness.faults.network import ProxyApiError, ProxyClient


@pytest.fixture
def pypi_toxiproxy(embedded_server: Any) -> Iterator[Any]:
    """toxiproxy-python pointed at the embedded server (its host/port are class attributes,
    restored afterwards)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the package imports `future`
        from toxiproxy import Toxiproxy
        from toxiproxy.api import APIConsumer
    host, port = embedded_server.url.removeprefix("http://").rsplit(":", 1)
    saved = (APIConsumer.host, APIConsumer.port)
    APIConsumer.host, APIConsumer.port = host, int(port)
    server = Toxiproxy()
    try:
        yield server
    finally:
        server.destroy_all()
        APIConsumer.host, APIConsumer.port = saved


def _rtt(listen: str) -> float:
    with connect(listen) as sock:
        start = time.monotonic()
        sock.sendall(b"ping")
        assert read_exactly(sock, 4) == b"ping"
        return time.monotonic() - start


def test_toxiproxy_python_client(pypi_toxiproxy: Any, echo: EchoServer) -> None:
    """toxiproxy-python creates a proxy, adds and removes a latency toxic (the delay appears and
    goes), and disables/enables the proxy (connections refused, then accepted)."""
    assert pypi_toxiproxy.running()
    assert b"version" in pypi_toxiproxy.version()
    proxy = pypi_toxiproxy.create(upstream=echo.address, name="pypi")
    assert proxy.listen != "127.0.0.1:0"
    assert "pypi" in pypi_toxiproxy.proxies()
    assert _rtt(proxy.listen) < 0.1
    proxy.add_toxic(type="latency", attributes={"latency": 200})
    assert "latency_downstream" in proxy.toxics()
    assert _rtt(proxy.listen) >= 0.198
    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    assert _rtt(proxy.listen) < 0.1
    proxy.disable()
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen)
    proxy.enable()
    assert _rtt(proxy.listen) < 0.1


def test_harness_client(embedded_server: Any, echo: EchoServer) -> None:
    """ProxyClient covers the API and raises ProxyApiError with the status and message."""
    client = ProxyClient(embedded_server.url)
    try:
        assert client.version()
        created = client.create_proxy("hc", upstream=echo.address)
        assert client.get_proxy("hc") == created
        toxic = client.add_toxic("hc", type="latency", attributes={"latency": 50})
        assert client.get_toxic("hc", toxic["name"])["attributes"]["latency"] == 50
        updated = client.update_toxic("hc", toxic["name"], attributes={"jitter": 5})
        assert updated["attributes"] == {"latency": 50, "jitter": 5}
        assert [t["name"] for t in client.list_toxics("hc")] == ["latency_downstream"]
        client.remove_toxic("hc", toxic["name"])
        assert client.disable("hc")["enabled"] is False
        assert client.enable("hc")["enabled"] is True
        assert [p["name"] for p in client.populate([{"name": "hc2", "upstream": echo.address}])] == ["hc2"]
        client.reset()
        with pytest.raises(ProxyApiError) as caught:
            client.create_proxy("hc", upstream=echo.address)
        assert caught.value.status == 409 and "proxy already exists" in str(caught.value)
    finally:
        for name in client.list_proxies():
            client.delete_proxy(name)
