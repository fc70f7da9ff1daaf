"""The embedded Toxiproxy-compatible fault proxy.

An asyncio TCP proxy with Toxiproxy's v2 HTTP control API (described in
``docs/toxiproxy-api.md``), so the harness, and any Toxiproxy client,
drive it exactly as they would drive a real ``toxiproxy-server``.

Modules, from the wire inwards::

    server      the command line: arguments, signals, ordered shutdown
    http        a small HTTP/1.1 server for the control API
    api         routes, handlers, the proxy collection
    proxy       one proxy: listener, connections, toxics
    connection  one client: its two sockets and two links
    link        one direction: direct, or a chain of toxic stages
    toxics      the toxic catalogue (TOXIC_TYPES) and their behaviour
    channel     the queue between stages
    address     host:port parsing, resolution, binding
    jsonbody    request bodies decoded with Go's rules
"""

from harness.toxiproxy.api import VERSION
from harness.toxiproxy.toxics import TOXIC_TYPES

__all__ = ["TOXIC_TYPES", "VERSION"]
