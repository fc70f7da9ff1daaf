"""The one redaction function: secrets never reach a file of the run directory or the console.

Every writer of the run directory (``scenario.toml``, ``run.json``, ``timeline.jsonl``,
``logs/processes.jsonl``, the lines the harness writes into child logs) and every console
message about a run goes through :func:`redact` (text) or :func:`redact_obj` (JSON-like
data) *at the source*; the report's :class:`~harness.report.scrub.Scrubber` uses the same
function once more when rendering. What is masked (replaced by :data:`MASK`):

* the password of a URL's user info, ``scheme://user:PASSWORD@host``, also when it holds
  an ``@`` itself (the last ``@`` of the URL ends it) or is percent-encoded;
* ``Bearer`` / ``Basic`` credentials;
* the value of a pair whose name looks secret (:func:`is_secret_key`: ``password``,
  ``PGPASSWORD``, ``secret``, ``token``, ``API_KEY``, ``authorization``, ...), in every
  form a run writes: ``NAME=value``, ``NAME = "value"`` (TOML, with spaces),
  ``name='a b'`` (a libpq keyword DSN), ``?password=value&`` (a DSN's query), ``--name value``,
  ``--name=value``, ``"name": "value"`` (JSON), ``name: value``;
* every exact string registered as a secret of the run (:func:`register_secret`: the
  admin token, the DSN's password, secret-looking ``[target.env]`` values), with its
  percent-encoded forms, wherever it appears.

Registered secrets live in a process-wide set: a run registers its secrets before it
writes anything, and every writer (in whichever thread) masks them from then on. Strings
shorter than :data:`MIN_LITERAL` are not searched for literally (they would mask ordinary
text); the patterns above still catch them in every structured form.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote

__all__ = [
    "MASK",
    "MIN_LITERAL",
    "is_secret_key",
    "private_dir",
    "redact",
    "redact_obj",
    "register_environ",
    "register_secret",
    "registered_secrets",
    "secrets_in_dsn",
    "write_private",
]

#: What a secret is replaced with.
MASK = "***"
#: Registered values shorter than this are not replaced by literal search.
MIN_LITERAL = 6

_SECRET_WORDS = re.compile(
    r"passw(?:or)?d|passphrase|pwd|secret|token|authorization|credential|"
    r"api[_-]?key|access[_-]?key|private[_-]?key|auth[_-]?key|signing[_-]?key|"
    r"encryption[_-]?key|session[_-]?key|client[_-]?secret",
    re.IGNORECASE,
)
# environment-style names: DB_PASS, PGPASS, STRIPE_KEY, KEY (upper case only, so a
# scenario's write_key or idempotency_key is not a secret)
_UPPER_SECRET = re.compile(r"(?:[A-Z0-9_]*_)?(?:KEY|PASS)|PGPASS")
# the shell's working directories: "pwd" is not a password there
_NOT_SECRET = frozenset({"PWD", "OLDPWD"})

# scheme://user:PASSWORD@host: greedy up to the token's last '@' (a password may hold '@')
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-zA-Z][\w+.-]*://[^:/@\s\"'<>]*:)(?P<pw>[^\s\"'<>]+)@(?=[^\s\"'<>@]*)"
)
_BEARER = re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)(?P<pw>[A-Za-z0-9._~+/=-]+)", re.IGNORECASE)
# Authorization: Token abc  (any scheme word, after the header's name)
_AUTH_HEADER = re.compile(
    r"(?P<head>\bauthorization[\"']?[ \t]*[:=][ \t]*[\"']?[A-Za-z]+[ \t]+)(?P<pw>(?!\*\*\*)[^\s\"'<>,;]+)",
    re.IGNORECASE,
)
_QUOTED_VALUE = r"(?P<vq>[\"'])(?P<value>(?:\\.|(?!(?P=vq))[^\\\n])*)(?P=vq)"
# "name": "value"  |  'name' = 'value'  (JSON, TOML quoted keys, Python reprs)
_QUOTED_PAIR = re.compile(
    r"(?P<head>(?P<q>[\"'])(?P<name>[^\"'\n]{1,100})(?P=q)[ \t]*[:=][ \t]*)" + _QUOTED_VALUE
)
# NAME = "value"  |  password='a b'  |  NAME: "value"
_BARE_QUOTED_PAIR = re.compile(
    r"(?P<head>(?<![\w.\"'-])(?P<name>[A-Za-z_][\w.-]*)[ \t]*[:=][ \t]*)" + _QUOTED_VALUE
)
# --name value  |  --name=value
_FLAG = re.compile(
    r"(?P<head>(?<![\w-])--?(?P<name>[A-Za-z][\w.-]*)(?:=|[ \t]+))"
    r"(?P<value>(?!\*\*\*)[^\s\"'<>]+)"
)
# NAME=value  |  ?password=value&  |  name: value  |  KEY = value
_BARE_PAIR = re.compile(
    r"(?P<head>(?<![\w.\"'-])(?P<name>[A-Za-z_][\w.-]*)(?:[ \t]*=[ \t]*|:[ \t]*))"
    r"(?P<value>(?!\*\*\*|Bearer\b|Basic\b|Token\b|Digest\b)[^\s\"'<>&,;]+)"
)

_lock = threading.Lock()
_registered: set[str] = set()


def is_secret_key(name: str) -> bool:
    """Whether a key, variable or flag name names a secret (``admin_token``, ``PGPASSWORD``,
    ``DB_PASS``, ``STRIPE_KEY``, ``--api-key``, ``Authorization``, ...)."""
    if name in _NOT_SECRET:
        return False
    return bool(_SECRET_WORDS.search(name) or _UPPER_SECRET.fullmatch(name))


def _forms(value: str) -> set[str]:
    """``value`` and its percent-encoded forms (a password inside a URL)."""
    return {value, quote(value, safe=""), quote_plus(value, safe=""), quote(value)}


def register_secret(value: object) -> None:
    """Mask this exact string (and its URL-encoded forms) wherever it appears from now on."""
    if not isinstance(value, str) or len(value) < MIN_LITERAL or value == MASK:
        return
    with _lock:
        _registered.update(f for f in _forms(value) if len(f) >= MIN_LITERAL)


def registered_secrets() -> frozenset[str]:
    """Every string registered so far (for a renderer that adds them to its own set)."""
    with _lock:
        return frozenset(_registered)


def register_environ(environ: Mapping[str, str] | None = None) -> None:
    """Register the values of the secret-named variables of ``environ`` (``os.environ``)."""
    for key, value in (os.environ if environ is None else environ).items():
        if is_secret_key(key):
            register_secret(value)


def secrets_in_dsn(dsn: str) -> list[str]:
    """The passwords a DSN (URL or libpq keywords) or a URL carries, decoded and as written."""
    found: list[str] = []
    for match in _URL_PASSWORD.finditer(dsn):
        found += [match["pw"], unquote(match["pw"])]
    for pattern in (_BARE_QUOTED_PAIR, _BARE_PAIR):
        for match in _secret_pairs(pattern, dsn):
            found += [match["value"], unquote(match["value"])]
    return [f for f in dict.fromkeys(found) if f and f != MASK]


def _secret_pairs(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """The matches of a name/value ``pattern`` whose name is a secret's. A pair with an
    ordinary name does not consume its value (``postgresql://h/db?password=x`` reads as
    ``postgresql: //h/db?password=x`` first), so the search goes on right after its start."""
    pos = 0
    while (match := pattern.search(text, pos)) is not None:
        if is_secret_key(match["name"]):
            yield match
            pos = match.end()
        else:
            pos = match.start() + 1


def _mask_pairs(pattern: re.Pattern[str], text: str) -> str:
    out: list[str] = []
    last = 0
    for match in _secret_pairs(pattern, text):
        quote_ = match.groupdict().get("vq") or ""
        out += [text[last:match.start()], f"{match['head']}{quote_}{MASK}{quote_}"]
        last = match.end()
    return "".join(out) + text[last:]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret form (see the module's doc) and every registered or given
    secret string replaced by :data:`MASK`."""
    if not text:
        return text
    literals = set(registered_secrets())
    for value in secrets:
        if isinstance(value, str) and len(value) >= MIN_LITERAL and value != MASK:
            literals |= {f for f in _forms(value) if len(f) >= MIN_LITERAL}
    for literal in sorted(literals, key=len, reverse=True):
        if literal in text:
            text = text.replace(literal, MASK)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)
    text = _BEARER.sub(lambda m: f"{m['head']}{MASK}", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['head']}{MASK}", text)
    for pattern in (_QUOTED_PAIR, _BARE_QUOTED_PAIR, _FLAG, _BARE_PAIR):
        text = _mask_pairs(pattern, text)
    return text


def redact_obj(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of JSON-like ``value``: the value of every secret-named key masked, every
    string (keys included) passed through :func:`redact`; any other object becomes its
    redacted ``str`` (as ``json.dumps(default=str)`` would have written it)."""
    given = tuple(secrets)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = redact(key, given) if isinstance(key, str) else key
            if isinstance(key, str) and is_secret_key(key) and isinstance(item, str | int | float) \
                    and not isinstance(item, bool) and item not in ("", MASK):
                out[name] = MASK
            else:
                out[name] = redact_obj(item, given)
        return out
    if isinstance(value, list | tuple):
        return [redact_obj(item, given) for item in value]
    if isinstance(value, str):
        return redact(value, given)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value), given)  # what json.dumps(default=str) would have written


def private_dir(path: Path) -> Path:
    """Make ``path`` (and any missing parent) a directory only its owner can enter (0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, stat.S_IRWXU)
    return path


def write_private(path: Path, text: str, *, append: bool = False) -> None:
    """Write (or append) ``text`` to ``path``, created 0600 (owner read/write only)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "a" if append else "w", encoding="utf-8") as fh:
        fh.write(text)
