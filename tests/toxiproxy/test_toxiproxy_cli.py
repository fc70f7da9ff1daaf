"""The server's command line: --config, --host localhost, SIGTERM with live connections, and
the exit codes for a bad config file and a taken port."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from toxiproxy_helpers import EchoServer, connect, read_exactly, wait_closed

from harness.provision.process import ChildProcess, Supervisor
from harness.provision.ready import wait_until


def _spawn(sup: Supervisor, *args: str) -> ChildProcess:
    return sup.spawn("proxy-cli", [sys.executable, "-m", "harness.toxiproxy", *args])


def _listening(child: ChildProcess) -> str:
    found: list[str] = []

    def ready() -> bool:
        found[:] = [line.removeprefix("listening on ") for line in child.log_tail(20).splitlines()
                    if line.startswith("listening on ")]
        return bool(found)

    wait_until(ready, 15.0, what="proxy cli", on_timeout=child.log_tail)
    return found[0].strip()


def test_config_localhost_and_sigterm(supervisor: Supervisor, tmp_path: Path, echo: EchoServer) -> None:
    """--config creates its proxies before the API answers; --host localhost serves on 127.0.0.1
    and ::1; SIGTERM with a live proxied connection exits 0 within the bound and closes it."""
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "cfg", "upstream": echo.address, "listen": "127.0.0.1:0",
                                   "toxics": [{"type": "latency"}]}]))  # ignored by default
    child = _spawn(supervisor, "--host", "localhost", "--port", "0", "--config", str(config))
    where = _listening(child)
    port = int(where.rsplit(":", 1)[1])
    proxies = httpx.get(f"http://127.0.0.1:{port}/proxies").json()
    assert list(proxies) == ["cfg"] and proxies["cfg"]["enabled"] is True
    assert proxies["cfg"]["toxics"] == []
    if socket.has_ipv6:
        assert httpx.get(f"http://[::1]:{port}/version").status_code == 200
    sock = connect(proxies["cfg"]["listen"])
    sock.sendall(b"live")
    assert read_exactly(sock, 4) == b"live"
    start = time.monotonic()
    child.send_signal(signal.SIGTERM)
    assert child.wait(10) == 0
    assert time.monotonic() - start < 5
    wait_closed(sock, 2.0)
    sock.close()


def test_bad_config_and_taken_port(supervisor: Supervisor, tmp_path: Path) -> None:
    """A config naming no upstream ends the server with exit code 2 and the reason; a taken API
    port ends it with exit code 1."""
    config = tmp_path / "bad.json"
    config.write_text(json.dumps([{"name": "x"}]))
    child = _spawn(supervisor, "--port", "0", "--config", str(config))
    assert child.wait(15) == 2
    assert "missing required field: upstream at proxy 1" in child.log_tail(20)
    with socket.create_server(("127.0.0.1", 0)) as holder:
        taken = _spawn(supervisor, "--port", str(holder.getsockname()[1]))
        assert taken.wait(15) == 1
        assert "cannot listen" in taken.log_tail(20)


def test_populate_toxics_opt_in(supervisor: Supervisor, tmp_path: Path, echo: EchoServer) -> None:
    """With --populate-toxics, the toxics of --config entries are created and act; a bad toxic in
    an entry is a 400 naming the entry, and nothing is created."""
    config = tmp_path / "toxic.json"
    config.write_text(json.dumps([{"name": "slow", "upstream": echo.address, "toxics": [
        {"type": "latency", "attributes": {"latency": 150}}]}]))
    child = _spawn(supervisor, "--port", "0", "--config", str(config), "--populate-toxics")
    url = "http://" + _listening(child)
    proxy = httpx.get(url + "/proxies/slow").json()
    assert [t["name"] for t in proxy["toxics"]] == ["latency_downstream"]
    with connect(proxy["listen"]) as sock:
        start = time.monotonic()
        sock.sendall(b"t")
        assert read_exactly(sock, 1) == b"t"
        assert time.monotonic() - start >= 0.148
    bad = httpx.post(url + "/populate", json=[{"name": "n1", "upstream": echo.address},
                                              {"name": "n2", "upstream": echo.address,
                                               "toxics": [{"type": "down"}]}])
    assert bad.status_code == 400 and bad.json()["error"] == "invalid toxic type at proxy 2"
    assert "n1" not in httpx.get(url + "/proxies").json()


def test_proxy_metrics_opt_in(supervisor: Supervisor, embedded_server: Any, echo: EchoServer) -> None:
    """/metrics is an unknown path by default; with --proxy-metrics it counts each direction's
    bytes in Prometheus text that prometheus_client can parse."""
    from prometheus_client.parser import text_string_to_metric_families

    assert httpx.get(embedded_server.url + "/metrics").status_code == 404
    child = _spawn(supervisor, "--port", "0", "--proxy-metrics")
    url = "http://" + _listening(child)
    listen = httpx.post(url + "/proxies", json={"name": "m", "upstream": echo.address}).json()["listen"]
    with connect(listen) as sock:
        sock.sendall(b"x" * 1000)
        assert read_exactly(sock, 1000) == b"x" * 1000
    reply = httpx.get(url + "/metrics")
    assert reply.status_code == 200
    samples = {(s.name, s.labels["direction"]): s.value
               for family in text_string_to_metric_families(reply.text) for s in family.samples}
    for direction in ("upstream", "downstream"):
        assert samples[("toxiproxy_proxy_received_bytes_total", direction)] == 1000
        assert samples[("toxiproxy_proxy_sent_bytes_total", direction)] == 1000
