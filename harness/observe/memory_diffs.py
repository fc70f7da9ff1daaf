"""tracemalloc snapshot diffs from the app's chaos hook, written into ``memory/``.

``POST /api/chaos/memory/snapshot`` (admin bearer token) makes the app take a
snapshot and answer with its diff against the previous one; the app's first
call is its baseline. Here the first successful call is written as
``memory/baseline.json`` and every later one as ``memory/diff-NNNN.json``
(NNNN from 0000). A call that fails or times out writes no diff; it is
appended to ``memory/failed.jsonl`` with the reason, so a report can say why
diffs are absent. The body is kept as the app sent it; only ``top`` entries
are normalised to the documented key names, and ``t_s`` (when the request
started) is set by the harness (the app's own ``t_s`` is kept as ``app_t_s``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

__all__ = ["MEMORY_HOOK_PATH", "MemoryDiffs", "normalize_diff"]

MEMORY_HOOK_PATH = "/api/chaos/memory/snapshot"

_TOP_ALIASES: Mapping[str, tuple[str, ...]] = {
    "site": ("site", "location", "where", "file"),
    "size_bytes": ("size_bytes", "size"),
    "size_diff_bytes": ("size_diff_bytes", "size_diff"),
    "count": ("count",),
    "count_diff": ("count_diff",),
    "traceback": ("traceback", "frames"),
}


def _top_entry(entry: Any) -> Any:
    if not isinstance(entry, Mapping):
        return entry
    out = dict(entry)
    for name, aliases in _TOP_ALIASES.items():
        if name not in out:
            for alias in aliases:
                if alias in entry:
                    out[name] = entry[alias]
                    break
    return out


def normalize_diff(body: Mapping[str, Any], t_s: float) -> dict[str, object]:
    """The hook's answer with ``t_s`` set and ``top`` entries under the documented names."""
    out = dict(body)
    if "t_s" in body:
        out["app_t_s"] = body["t_s"]  # the app's own clock, kept for reference
    out["t_s"] = round(t_s, 3)
    top = body.get("top")
    if top is None:
        top = body.get("top_stats")
    out["top"] = [_top_entry(e) for e in top] if isinstance(top, list) else []
    return out


class MemoryDiffs:
    """Takes snapshot diffs one at a time and writes them; counts what it wrote."""

    def __init__(
        self,
        memory_dir: Path,
        base_url: str,
        admin_token: str | None,
        t0_monotonic: float,
        clock: Callable[[], float],
        timeout_s: float,
    ) -> None:
        self.memory_dir = memory_dir
        self.url = base_url.rstrip("/") + MEMORY_HOOK_PATH
        self._headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.t0 = t0_monotonic
        self.clock = clock
        self.timeout_s = timeout_s
        self.has_baseline = False
        self.written = 0
        self.failed = 0
        self._lock = asyncio.Lock()

    async def take(self, client: httpx.AsyncClient) -> dict[str, object] | None:
        """Call the hook once; write the baseline or the next diff. ``None`` when it failed."""
        async with self._lock:
            t_s = self.clock() - self.t0
            try:
                async with asyncio.timeout(self.timeout_s):
                    response = await client.post(
                        self.url, headers=self._headers, timeout=self.timeout_s
                    )
                body = response.json() if response.status_code == 200 else None
                error = None if isinstance(body, dict) else f"http_{response.status_code}"
            except (TimeoutError, httpx.TimeoutException):
                body, error = None, f"timeout after {self.timeout_s:g}s"
            except (httpx.HTTPError, ValueError) as exc:
                body, error = None, f"{type(exc).__name__}: {exc}"
            if error is not None or not isinstance(body, dict):
                self._record_failure(t_s, error or "not a JSON object")
                return None
            diff = normalize_diff(body, t_s)
            self._write(diff)
            return diff

    def _write(self, diff: dict[str, object]) -> None:
        self.memory_dir.mkdir(parents=True, exist_ok=True)
        if not self.has_baseline:
            path = self.memory_dir / "baseline.json"
            self.has_baseline = True
        else:
            path = self.memory_dir / f"diff-{self.written:04d}.json"
            self.written += 1
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(diff, indent=1) + "\n")
        tmp.replace(path)  # readers never see half a file

    def _record_failure(self, t_s: float, error: str) -> None:
        self.failed += 1
        self.memory_dir.mkdir(parents=True, exist_ok=True)
        entry = {"t_s": round(t_s, 3), "baseline": not self.has_baseline, "error": error}
        with (self.memory_dir / "failed.jsonl").open("a") as fh:
            fh.write(json.dumps(entry) + "\n")
