"""Requests declared in a scenario: what to send, what counts as done, what to keep.

A :class:`RequestSpec` is one ``[[load.request]]`` entry, resolved. It is plain data
(no locust import) so the scenario loader validates it and the load config carries it
to the Locust process as JSON. :class:`Outcome` judges a response the same way for
declared requests, the built-in reference tasks and a user's own locustfile.

- ``ok_status``: status classes (``"2xx"``) and exact codes (``404``) that count as
  done; for a write, done means *acknowledged*.
- ``ok_json``: optionally, a path (``data.createOrder.id``, ``items[0].id``) that
  must be present and not null in the JSON body (a GraphQL server answers 200 with
  an ``errors`` array and no data).
- ``capture``: name -> path of values to keep from a done response; later requests of
  the same user use them as ``{name}``. ``capture_first`` keeps only the first value a
  user got (its login, say), where ``capture`` keeps the latest.
- ``write_key``: marks a write; a template (usually ``"{key}"``) whose value is the
  key recorded in requests.csv and read back by ``[verify.writes] sql``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.load.template import BUILTINS, JsonTemplate, Template, TemplateError

__all__ = [
    "METHODS",
    "RETRYABLE_4XX",
    "RequestSpec",
    "StatusSet",
    "json_path",
    "parse_path",
    "retry_delay_s",
    "should_retry",
]

METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
#: 4xx answers that mean "try again later", not "this will never work".
RETRYABLE_4XX = frozenset({408, 425, 429})
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PATH = re.compile(r"[^.\[\]]+(?:\[\d+\])*(?:\.[^.\[\]]+(?:\[\d+\])*)*")
_CLASS = re.compile(r"[1-5]xx")
_MISSING = object()


@functools.lru_cache(maxsize=256)
def parse_path(path: str) -> tuple[str | int, ...]:
    """``"data.items[0].id"`` (a leading ``$.`` is allowed) as keys and indexes."""
    text = path[2:] if path.startswith("$.") else path
    if not _PATH.fullmatch(text):
        raise ValueError(f"{path!r}: expected a path such as data.items[0].id")
    return tuple(m.group(1) if m.group(1) is not None else int(m.group(2))
                 for m in _PATH_PART.finditer(text))


def json_path(body: object, parts: Sequence[str | int]) -> object:
    """The value at ``parts`` in ``body``, or :data:`None` when any step is missing."""
    node = body
    for part in parts:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return None
            node = node[part]
        else:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
    return node


@dataclass(frozen=True)
class StatusSet:
    """Status classes (``2`` for 2xx) and exact codes."""

    classes: frozenset[int] = frozenset({2})
    codes: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, items: Sequence[object]) -> StatusSet:
        """From ``["2xx", 404]``; ValueError naming the bad item."""
        classes: set[int] = set()
        codes: set[int] = set()
        for item in items:
            if isinstance(item, str) and _CLASS.fullmatch(item):
                classes.add(int(item[0]))
            elif isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
                codes.add(item)
            else:
                raise ValueError(f"{item!r}: expected a class such as \"2xx\" or a code such as 404")
        if not classes and not codes:
            raise ValueError("expected at least one status")
        return cls(frozenset(classes), frozenset(codes))

    def __contains__(self, status: object) -> bool:
        return isinstance(status, int) and (status in self.codes or status // 100 in self.classes)

    def to_list(self) -> list[object]:
        classes: list[object] = [f"{c}xx" for c in sorted(self.classes)]
        return classes + sorted(self.codes)


def should_retry(status: int) -> bool:
    """A write is retried (same key) on no answer, a 5xx, or a 408/425/429."""
    return status == 0 or status >= 500 or status in RETRYABLE_4XX


def retry_delay_s(attempt: int, retry_after: str | None, jitter: float) -> float:
    """Seconds before retry ``attempt + 1``: Retry-After when given, else capped
    exponential backoff with full jitter; never more than a second (the load goes on)."""
    if retry_after:
        try:
            return min(1.0, max(0.0, float(retry_after)))
        except ValueError:
            pass
    return min(1.0, 0.05 + jitter * 0.1 * 2 ** (attempt - 1))


@dataclass(frozen=True)
class RequestSpec:
    """One declared request (see the module docstring)."""

    name: str
    path: str
    method: str = "GET"
    weight: int = 1
    on_start: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    json: object = None
    body: str | None = None
    write_key: str = ""
    ok_status: StatusSet = field(default_factory=StatusSet)
    ok_json: str = ""
    capture: Mapping[str, str] = field(default_factory=dict)
    capture_first: Mapping[str, str] = field(default_factory=dict)

    @property
    def captured(self) -> dict[str, str]:
        """Every name this request captures (latest or first), with its path."""
        return {**self.capture, **self.capture_first}

    @property
    def is_write(self) -> bool:
        return bool(self.write_key)

    def templates(self) -> dict[str, set[str]]:
        """Placeholder names used, by the key that uses them (for validation)."""
        out = {"path": Template(self.path).names,
               "json": JsonTemplate(self.json).names if self.json is not None else set(),
               "body": Template(self.body).names if self.body is not None else set(),
               "write_key": Template(self.write_key).names}
        for name, value in self.headers.items():
            out[f"headers.{name}"] = Template(value).names
        return out

    def problems(self) -> list[tuple[str, str]]:
        """(key, problem) for everything wrong with this request on its own."""
        found: list[tuple[str, str]] = []
        if self.method not in METHODS:
            found.append(("method", f"expected one of {', '.join(METHODS)}, got {self.method!r}"))
        if not self.path.startswith("/"):
            found.append(("path", f"expected a path starting with '/', got {self.path!r}"))
        if self.json is not None and self.body is not None:
            found.append(("body", "give json or body, not both"))
        paths = [("ok_json", self.ok_json)]
        for table, captures in (("capture", self.capture), ("capture_first", self.capture_first)):
            paths += [(f"{table}.{k}", v) for k, v in captures.items()]
            found += [(f"{table}.{k}", f"{k!r} is a built-in placeholder; choose another name")
                      for k in captures if k in BUILTINS]
        for key, text in paths:
            if text:
                try:
                    parse_path(text)
                except ValueError as exc:
                    found.append((key, str(exc)))
        try:
            used = self.templates()
        except TemplateError as exc:
            return [*found, ("path", str(exc))]
        return found + (self._write_problems(used) if self.is_write else [])

    def _write_problems(self, used: dict[str, set[str]]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if "key" not in used["write_key"]:
            found.append(("write_key", "must contain {key} (a fresh key per write), "
                          f"got {self.write_key!r}"))
        sent = set().union(*(v for k, v in used.items() if k != "write_key"))
        if "key" not in sent:
            found.append(("write_key", "the request never sends its key: put {key} in "
                          "the path, a header, json or body"))
        return found

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (for the load config)."""
        return {"name": self.name, "path": self.path, "method": self.method,
                "weight": self.weight, "on_start": self.on_start, "headers": dict(self.headers),
                "json": self.json, "body": self.body, "write_key": self.write_key,
                "ok_status": self.ok_status.to_list(), "ok_json": self.ok_json,
                "capture": dict(self.capture), "capture_first": dict(self.capture_first)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestSpec:
        """Read :meth:`to_dict` back."""
        values = dict(data)
        values["ok_status"] = StatusSet.parse(values.get("ok_status", ["2xx"]))
        return cls(**values)


def uses_captures(spec: RequestSpec) -> set[str]:
    """Names a request takes from earlier responses (not built-ins)."""
    return set().union(*spec.templates().values()) - BUILTINS
