"""Placeholders in declared requests: parse once, render per request (no locust import).

A template is a string with ``{...}`` placeholders; ``{{`` and ``}}`` are literal
braces. The placeholders:

==================  ==========================================================
``{key}``           a fresh seeded write key (the same on every retry of a write)
``{user}``          this user's id, ``<worker>-<index>``
``{worker}``        the Locust worker index (0 without workers)
``{seq}``           this user's request counter (1, 2, ...)
``{uuid}``          a random UUID from the user's seeded generator
``{int:LO:HI}``     an integer in ``[LO, HI]``
``{choice:a|b|c}``  one of the listed strings
``{NAME}``          a value captured from an earlier response of the same user
==================  ==========================================================

A JSON value that is *exactly* one placeholder keeps the placeholder's type
(``"{int:1:5}"`` renders as the number 3, a captured object stays an object);
anywhere else placeholders are formatted into the text.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from random import Random

__all__ = [
    "BUILTINS",
    "Context",
    "JsonTemplate",
    "Template",
    "TemplateError",
]

#: Placeholders that need no capture.
BUILTINS: frozenset[str] = frozenset({"key", "user", "worker", "seq", "uuid", "int", "choice"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TemplateError(ValueError):
    """A malformed template; the message says which placeholder and why."""


@dataclass(frozen=True)
class _Slot:
    name: str
    args: tuple[str, ...] = ()
    low: int = 0
    high: int = 0


@dataclass
class Context:
    """What one rendering of a request may use: the user's generator, ids and captures."""

    rng: Random
    user: str
    worker: int
    seq: int
    key: str
    captures: Mapping[str, object]

    def value(self, slot: _Slot) -> object:
        """The value of one placeholder (KeyError for a capture not taken yet)."""
        name = slot.name
        if name == "key":
            return self.key
        if name == "user":
            return self.user
        if name == "worker":
            return self.worker
        if name == "seq":
            return self.seq
        if name == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if name == "int":
            return self.rng.randint(slot.low, slot.high)
        if name == "choice":
            return self.rng.choice(slot.args)
        return self.captures[name]


def _slot(text: str) -> _Slot:
    name, _, rest = text.partition(":")
    if not _NAME.fullmatch(name):
        raise TemplateError(f"{{{text}}}: expected a placeholder name such as {{key}}, {{seq}}, "
                            "{int:1:10}, {choice:a|b} or a captured name")
    if name == "int":
        bounds = rest.split(":")
        try:
            low, high = (int(b) for b in bounds)
        except ValueError:
            raise TemplateError(f"{{{text}}}: expected {{int:LO:HI}} with two integers") from None
        if low > high:
            raise TemplateError(f"{{{text}}}: LO must be <= HI")
        return _Slot(name, (), low, high)
    if name == "choice":
        options = tuple(rest.split("|")) if rest else ()
        if not options:
            raise TemplateError(f"{{{text}}}: expected {{choice:a|b|...}} with at least one option")
        return _Slot(name, options)
    if rest:
        raise TemplateError(f"{{{text}}}: {{{name}}} takes no arguments")
    return _Slot(name)


class Template:
    """One parsed template string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.parts: list[str | _Slot] = []
        pos = 0
        for match in _TOKEN.finditer(text):
            literal = text[pos:match.start()]
            pos = match.end()
            token = match.group(0)
            if token in ("{{", "}}"):
                self.parts.append(literal + token[0])
            elif token in ("{", "}"):
                raise TemplateError(f"{text!r}: unmatched {token!r} (write {token * 2} for a "
                                    "literal brace)")
            else:
                self.parts.append(literal)
                self.parts.append(_slot(match.group(1).strip()))
        self.parts.append(text[pos:])
        self.parts = [p for p in self.parts if p != ""]

    @property
    def names(self) -> set[str]:
        """Every placeholder name used."""
        return {p.name for p in self.parts if isinstance(p, _Slot)}

    @property
    def single(self) -> _Slot | None:
        """The placeholder when the template is exactly one placeholder, else None."""
        if len(self.parts) == 1 and isinstance(self.parts[0], _Slot):
            return self.parts[0]
        return None

    def render(self, ctx: Context) -> str:
        """The text with every placeholder filled in."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                value = ctx.value(part)
                out.append(value if isinstance(value, str) else _text(value))
        return "".join(out)

    def render_value(self, ctx: Context) -> object:
        """Like :meth:`render`, but a lone placeholder keeps its own type (for JSON)."""
        slot = self.single
        return ctx.value(slot) if slot is not None else self.render(ctx)


def _text(value: object) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


class JsonTemplate:
    """A JSON-like template tree (strings are templates), parsed once, rendered per request."""

    def __init__(self, value: object) -> None:
        self.tree = _compile(value)

    @property
    def names(self) -> set[str]:
        """Every placeholder name used anywhere in the tree."""
        return _names(self.tree)

    def render(self, ctx: Context) -> object:
        """The tree with every string rendered; a lone placeholder keeps its own type."""
        return _render(self.tree, ctx)


def _compile(value: object) -> object:
    if isinstance(value, str):
        return Template(value)
    if isinstance(value, dict):
        return [(Template(k), _compile(v)) for k, v in value.items()]  # a list marks a table
    if isinstance(value, list):
        return tuple(_compile(v) for v in value)
    return value


def _names(tree: object) -> set[str]:
    if isinstance(tree, Template):
        return tree.names
    if isinstance(tree, list):
        return set().union(*(k.names | _names(v) for k, v in tree)) if tree else set()
    if isinstance(tree, tuple):
        return set().union(*(_names(v) for v in tree)) if tree else set()
    return set()


def _render(tree: object, ctx: Context) -> object:
    if isinstance(tree, Template):
        return tree.render_value(ctx)
    if isinstance(tree, list):
        return {k.render(ctx): _render(v, ctx) for k, v in tree}
    if isinstance(tree, tuple):
        return [_render(v, ctx) for v in tree]
    return tree
