"""Conformance of the control API (the routes, bodies and errors of docs/toxiproxy-api.md).

Runs against the embedded server as a real subprocess, and against a real
``toxiproxy-server`` when one is on PATH (the ``proxy_server`` fixture)."""

from __future__ import annotations

import httpx
from toxiproxy_helpers import EchoServer, connect, port_open


def _create(api: httpx.Client, name: str, upstream: str, listen: str = "127.0.0.1:0",
            **extra: object) -> dict:
    reply = api.post("/proxies", json={"name": name, "upstream": upstream, "listen": listen, **extra})
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_version_request_id_and_browser_guard(api: httpx.Client) -> None:
    """/version answers with the request-id header; a Mozilla UA is refused, Wget is not."""
    reply = api.get("/version")
    assert reply.status_code == 200
    assert reply.headers["X-Toxiproxy-Request-Id"]
    assert reply.text.endswith("\n") and reply.json()["version"]
    browser = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert browser.status_code == 403 and "User agent not allowed" in browser.text
    assert api.get("/proxies", headers={"User-Agent": "Wget/1.21"}).status_code == 200
    assert api.get("/proxies").json() == {}


def test_missing_fields_name_first_and_no_listen(api: httpx.Client) -> None:
    """Missing name/upstream give the two 400 messages (name checked first); no listen is fine."""
    reply = api.post("/proxies", json={})
    assert reply.status_code == 400
    assert reply.json() == {"error": "missing required field: name", "status": 400}
    reply = api.post("/proxies", json={"name": "a"})
    assert reply.json()["error"] == "missing required field: upstream"
    reply = api.post("/proxies", json={"name": "a", "upstream": "127.0.0.1:1"})
    assert reply.status_code == 201
    assert reply.json()["listen"].rsplit(":", 1)[1] != "0"


def test_created_proxy_shape(api: httpx.Client, echo: EchoServer) -> None:
    """localhost:PORT comes back as 127.0.0.1:PORT; upstream verbatim; enabled; no toxics;
    list and get agree."""
    created = _create(api, "shape", "localhost:" + str(echo.port), listen="localhost:0")
    assert created["listen"].startswith("127.0.0.1:")
    assert created["upstream"] == f"localhost:{echo.port}"
    assert created["enabled"] is True and created["toxics"] == []
    assert api.get("/proxies").json() == {"shape": created}
    assert api.get("/proxies/shape").json() == created
    with connect(created["listen"]) as sock:
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"


def test_disable_enable_keeps_listen(api: httpx.Client, echo: EchoServer) -> None:
    """Disable keeps the listen text and closes the port; enable opens it again; disable closes."""
    listen = _create(api, "de", echo.address)["listen"]
    disabled = api.post("/proxies/de", json={"enabled": False}).json()
    assert disabled["listen"] == listen and disabled["enabled"] is False
    assert not port_open(listen)
    assert api.patch("/proxies/de", json={"enabled": True}).json()["listen"] == listen
    assert port_open(listen)
    api.post("/proxies/de", json={"enabled": False})
    assert not port_open(listen)


def test_conflicts_bind_and_delete(api: httpx.Client, echo: EchoServer) -> None:
    """Same listen twice: 500 with the bind message; same name: 409; both fine after delete.
    Delete closes the port; a second delete is 404."""
    listen = _create(api, "one", echo.address)["listen"]
    taken = api.post("/proxies", json={"name": "two", "upstream": echo.address, "listen": listen})
    assert taken.status_code == 500 and "address already in use" in taken.json()["error"]
    same = api.post("/proxies", json={"name": "one", "upstream": echo.address})
    assert same.status_code == 409 and same.json()["error"] == "proxy already exists"
    assert api.delete("/proxies/one").status_code == 204
    assert not port_open(listen)
    assert api.delete("/proxies/one").json() == {"error": "proxy not found", "status": 404}
    _create(api, "two", echo.address, listen=listen)
    _create(api, "one", echo.address)


def test_populate(api: httpx.Client, echo: EchoServer) -> None:
    """Populate creates in order and listens; disabled entries stay closed; an unchanged existing
    proxy keeps its toxic; a changed listen replaces it."""
    reply = api.post("/populate", json=[
        {"name": "p1", "upstream": echo.address, "listen": "127.0.0.1:0"},
        {"name": "p2", "upstream": echo.address, "listen": "127.0.0.1:0", "enabled": False},
    ])
    assert reply.status_code == 201
    p1, p2 = reply.json()["proxies"]
    assert [p1["name"], p2["name"]] == ["p1", "p2"]
    assert port_open(p1["listen"]) and p2["enabled"] is False
    api.post("/proxies/p1/toxics", json={"type": "latency", "attributes": {"latency": 5}})
    again = api.post("/populate", json=[{"name": "p1", "upstream": echo.address,
                                         "listen": p1["listen"]}]).json()["proxies"][0]
    assert [t["name"] for t in again["toxics"]] == ["latency_downstream"]
    moved = api.post("/populate", json=[{"name": "p1", "upstream": echo.address,
                                         "listen": "127.0.0.1:0"}]).json()["proxies"][0]
    assert moved["toxics"] == [] and moved["listen"] != p1["listen"]


def test_populate_validation_and_partial_failure(api: httpx.Client, echo: EchoServer) -> None:
    """A nameless second entry: 400 `... at proxy 2`, nothing created; a bad second listen
    leaves only the first."""
    reply = api.post("/populate", json=[{"name": "a", "upstream": echo.address}, {"upstream": "x:1"}])
    assert reply.status_code == 400
    assert reply.json()["error"] == "missing required field: name at proxy 2"
    assert api.get("/proxies").json() == {}
    taken = _create(api, "holder", echo.address)["listen"]
    reply = api.post("/populate", json=[
        {"name": "first", "upstream": echo.address},
        {"name": "second", "upstream": echo.address, "listen": taken},
    ])
    assert reply.status_code == 500
    assert [p["name"] for p in reply.json()["proxies"]] == ["first"]
    assert sorted(api.get("/proxies").json()) == ["first", "holder"]


def test_reset(api: httpx.Client, echo: EchoServer) -> None:
    """Reset keeps proxies, enables them (a disabled one on its old port) and drops toxics."""
    listen = _create(api, "r", echo.address)["listen"]
    api.post("/proxies/r/toxics", json={"type": "latency"})
    api.post("/proxies/r", json={"enabled": False})
    assert api.post("/reset").status_code == 204
    proxy = api.get("/proxies/r").json()
    assert proxy["enabled"] is True and proxy["toxics"] == [] and proxy["listen"] == listen
    assert port_open(listen)


def test_latency_toxic_shape(api: httpx.Client, echo: EchoServer) -> None:
    """A named latency toxic {100, 10}: 200, toxicity 1.0, downstream, in reply and list;
    attributes not given are 0."""
    _create(api, "t", echo.address)
    reply = api.post("/proxies/t/toxics", json={"name": "lat", "type": "latency",
                                                "attributes": {"latency": 100, "jitter": 10}})
    assert reply.status_code == 200
    toxic = reply.json()
    assert toxic == {"name": "lat", "type": "latency", "stream": "downstream", "toxicity": 1.0,
                     "attributes": {"latency": 100, "jitter": 10}}
    assert api.get("/proxies/t/toxics").json() == [toxic]
    assert api.get("/proxies/t/toxics/lat").json() == toxic
    sliced = api.post("/proxies/t/toxics", json={"type": "slicer", "attributes": {"average_size": 8}})
    assert sliced.json()["attributes"] == {"average_size": 8, "size_variation": 0, "delay": 0}
    assert api.post("/proxies/t/toxics", json={"type": "bandwidth", "name": "bw"}).json()[
        "attributes"] == {"rate": 0}


def test_toxic_names_and_defaults(api: httpx.Client, echo: EchoServer) -> None:
    """Duplicate names (any type or stream) are 409 and leave the original; unnamed toxics are
    <type>_<stream>; toxicity round-trips; noop defaults to downstream and 1.0."""
    _create(api, "n", echo.address)
    api.post("/proxies/n/toxics", json={"name": "x", "type": "latency", "attributes": {"latency": 7}})
    dup = api.post("/proxies/n/toxics", json={"name": "x", "type": "timeout", "stream": "upstream"})
    assert dup.status_code == 409 and dup.json()["error"] == "toxic already exists"
    assert api.get("/proxies/n/toxics/x").json()["attributes"]["latency"] == 7
    up = api.post("/proxies/n/toxics", json={"type": "latency", "stream": "upstream"}).json()
    down = api.post("/proxies/n/toxics", json={"type": "latency", "stream": "downstream"}).json()
    assert (up["name"], down["name"]) == ("latency_upstream", "latency_downstream")
    frac = api.post("/proxies/n/toxics", json={"type": "slow_close", "toxicity": 0.2}).json()
    assert frac["toxicity"] == 0.2
    noop = api.post("/proxies/n/toxics", json={"type": "noop"}).json()
    assert (noop["stream"], noop["toxicity"], noop["attributes"]) == ("downstream", 1.0, {})
    names = [t["name"] for t in api.get("/proxies/n/toxics").json()]
    assert names == ["latency_upstream", "x", "latency_downstream", "slow_close_downstream",
                     "noop_downstream"]


def test_toxic_update_merges(api: httpx.Client, echo: EchoServer) -> None:
    """Update {toxicity .5, latency 1000} keeps jitter; then {latency 500} keeps toxicity .5;
    a deleted toxic is gone; a bad stream is 400; an unknown toxic 404."""
    _create(api, "u", echo.address)
    api.post("/proxies/u/toxics", json={"name": "l", "type": "latency",
                                        "attributes": {"latency": 100, "jitter": 10}})
    first = api.post("/proxies/u/toxics/l", json={"toxicity": 0.5, "attributes": {"latency": 1000}})
    assert first.status_code == 200
    assert first.json()["attributes"] == {"latency": 1000, "jitter": 10}
    second = api.patch("/proxies/u/toxics/l", json={"attributes": {"latency": 500}}).json()
    assert second["toxicity"] == 0.5 and second["attributes"]["latency"] == 500
    assert api.delete("/proxies/u/toxics/l").status_code == 204
    assert api.get("/proxies/u/toxics").json() == []
    bad = api.post("/proxies/u/toxics", json={"type": "latency", "stream": "sideways"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "stream was invalid, can be either upstream or downstream"
    assert api.get("/proxies/u/toxics/nope").json() == {"error": "toxic not found", "status": 404}
    assert api.get("/proxies/none/toxics/l").json()["error"] == "proxy not found"


def test_bad_input_is_400(api: httpx.Client, echo: EchoServer) -> None:
    """Malformed JSON, wrong types, unknown type, `down`, non-integral and string attributes,
    negative bandwidth and non-positive slicer size are all 400 (never a 5xx); unknown paths 404,
    wrong methods 405."""
    _create(api, "b", echo.address)
    assert api.post("/proxies", content=b"{nope").json()["error"].startswith("bad request body")
    assert api.post("/proxies", json={"name": 5, "upstream": "x:1"}).status_code == 400
    for body in (
        {"type": "down"}, {"type": "wat"}, {"type": "latency", "stream": ""},
        {"type": "latency", "attributes": {"latency": 1000.0}},
        {"type": "latency", "attributes": {"latency": "100"}},
        {"type": "bandwidth", "attributes": {"rate": -1}},
        {"type": "slicer", "attributes": {"average_size": 0}},
        {"type": "latency", "toxicity": "high"},
    ):
        reply = api.post("/proxies/b/toxics", json=body)
        assert reply.status_code == 400, (body, reply.text)
    assert api.post("/proxies/b/toxics", json={"type": "latency", "attributes": {"latency": -5},
                                               "name": "neg"}).status_code == 200
    assert api.get("/nothing").status_code == 404
    assert api.put("/proxies").status_code == 405
    assert api.get("/populate").status_code == 405


def test_toxics_on_disabled_proxy_survive(api: httpx.Client, echo: EchoServer) -> None:
    """A proxy created disabled keeps its listen text; toxics can be added while disabled and
    survive enable/disable."""
    created = _create(api, "off", echo.address, listen="localhost:0", enabled=False)
    assert created["listen"] == "localhost:0" and created["enabled"] is False
    assert api.post("/proxies/off/toxics", json={"type": "latency"}).status_code == 200
    enabled = api.post("/proxies/off", json={"enabled": True}).json()
    assert enabled["listen"].startswith("127.0.0.1:") and len(enabled["toxics"]) == 1
    api.post("/proxies/off", json={"enabled": False})
    assert [t["name"] for t in api.get("/proxies/off/toxics").json()] == ["latency_downstream"]
