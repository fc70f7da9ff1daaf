"""A small client of the Toxiproxy HTTP API, used by the harness for network faults.

It speaks to the embedded server (``harness.toxiproxy``) and to a real
``toxiproxy-server`` alike: the harness only ever acts on the network through
this API. Errors carry the method, path, status and the server's message.
Standard library only (urllib), so it imports nothing heavy.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from typing import Any

from harness.errors import FaultError

__all__ = ["ProxyApiError", "ProxyClient", "find_toxiproxy_server"]


class ProxyApiError(FaultError):
    """The proxy API answered with an error (or not at all)."""

    def __init__(self, method: str, path: str, status: int | None, message: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        where = f"{method} {path}"
        super().__init__(f"toxiproxy API {where}: {status or 'no answer'}: {message}")


def find_toxiproxy_server() -> str | None:
    """The path of a real ``toxiproxy-server`` on PATH, or None."""
    return shutil.which("toxiproxy-server")


class ProxyClient:
    """Toxiproxy API client: proxies, toxics, populate, reset, version."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: object | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method,
            headers={"Content-Type": "application/json", "User-Agent": "chaosharness"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 - loopback
                text = resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode("utf-8", "replace")
            try:
                message = json.loads(raw).get("error", raw)
            except (ValueError, AttributeError):
                message = raw
            raise ProxyApiError(method, path, exc.code, str(message).strip()) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ProxyApiError(method, path, None, str(exc)) from None
        return json.loads(text) if text.strip() else None

    # -- server ---------------------------------------------------------------------

    def version(self) -> str:
        reply = self._call("GET", "/version")
        return str(reply.get("version", "")) if isinstance(reply, dict) else str(reply)

    def reset(self) -> None:
        self._call("POST", "/reset")

    def populate(self, proxies: list[dict[str, object]]) -> list[dict[str, object]]:
        reply = self._call("POST", "/populate", proxies)
        return list(reply.get("proxies", [])) if isinstance(reply, dict) else []

    # -- proxies --------------------------------------------------------------------

    def list_proxies(self) -> dict[str, dict[str, object]]:
        return dict(self._call("GET", "/proxies") or {})

    def create_proxy(self, name: str, *, upstream: str, listen: str = "127.0.0.1:0",
                     enabled: bool = True) -> dict[str, object]:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return dict(self._call("POST", "/proxies", body))

    def get_proxy(self, name: str) -> dict[str, object]:
        return dict(self._call("GET", f"/proxies/{name}"))

    def update_proxy(self, name: str, **fields: Any) -> dict[str, object]:
        return dict(self._call("POST", f"/proxies/{name}", fields))

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def disable(self, name: str) -> dict[str, object]:
        """Take the link down: the listener closes and every open connection is cut."""
        return self.update_proxy(name, enabled=False)

    def enable(self, name: str) -> dict[str, object]:
        return self.update_proxy(name, enabled=True)

    # -- toxics ---------------------------------------------------------------------

    def list_toxics(self, proxy: str) -> list[dict[str, object]]:
        return list(self._call("GET", f"/proxies/{proxy}/toxics") or [])

    def add_toxic(self, proxy: str, *, type: str, name: str | None = None,  # noqa: A002 - API's name
                  stream: str = "downstream", toxicity: float = 1.0,
                  attributes: dict[str, object] | None = None) -> dict[str, object]:
        body: dict[str, object] = {"type": type, "stream": stream, "toxicity": toxicity,
                                "attributes": attributes or {}}
        if name:
            body["name"] = name
        return dict(self._call("POST", f"/proxies/{proxy}/toxics", body))

    def get_toxic(self, proxy: str, name: str) -> dict[str, object]:
        return dict(self._call("GET", f"/proxies/{proxy}/toxics/{name}"))

    def update_toxic(self, proxy: str, name: str, *, toxicity: float | None = None,
                     attributes: dict[str, object] | None = None) -> dict[str, object]:
        body: dict[str, object] = {}
        if toxicity is not None:
            body["toxicity"] = toxicity
        if attributes is not None:
            body["attributes"] = attributes
        return dict(self._call("POST", f"/proxies/{proxy}/toxics/{name}", body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
