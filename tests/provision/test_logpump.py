"""A child's output reaches its log redacted, line by line, and whole (real children)."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from harness.provision.process import Supervisor
from harness.redact import register_secret

pytestmark = pytest.mark.integration

SECRET = "pump-secret-4c3b2a19"

CHILD = r"""
import sys
print("dsn postgresql://svc:" + sys.argv[1] + "@127.0.0.1:5432/db", flush=True)
print("token " + sys.argv[1], file=sys.stderr, flush=True)
sys.stdout.buffer.write(b"\xff\xfe not utf-8\n")
print("API_KEY=k-123456789 and PGPASSWORD='a b c'")
print("x" * 300000)
sys.stdout.write("no newline at the end")
"""


def test_child_output_is_redacted_and_complete(tmp_path: Path) -> None:
    """Provoke: a child prints a DSN with a registered password on stdout, the password
    alone on stderr, bytes that are not UTF-8, secret-named pairs, a 300 kB line and a last
    line without a newline, then exits. Must hold: the log holds every line, none of the
    secrets, the odd bytes as they were, and is 0600; log_tail sees the last line at once."""
    register_secret(SECRET)
    with Supervisor(tmp_path / "logs") as sup:
        child = sup.spawn("talker", [sys.executable, "-c", CHILD, SECRET])
        assert child.wait(30) == 0
        assert child.log_tail(1) == "no newline at the end"
        sup.reap(child)
    data = child.log_path.read_bytes()
    assert SECRET.encode() not in data and b"k-123456789" not in data and b"a b c" not in data
    assert b"dsn postgresql://svc:***@127.0.0.1:5432/db\n" in data
    assert b"token ***\n" in data
    assert b"\xff\xfe not utf-8\n" in data
    assert b"x" * 300000 + b"\n" in data
    assert data.endswith(b"no newline at the end")
    assert stat.S_IMODE(child.log_path.stat().st_mode) == 0o600


def test_a_wait_returns_with_the_last_line_in_the_log(tmp_path: Path) -> None:
    """What a child printed just before it exited is in its log as soon as wait() returns
    (a browser's DOM dump was read cut short when only reap() waited for the pump)."""
    script = "import sys\nsys.stdout.write('x' * 200_000 + '\\n' + 'THE END\\n')\n"
    for n in range(5):
        with Supervisor(tmp_path / f"logs{n}") as sup:
            child = sup.spawn(f"burst{n}", [sys.executable, "-c", script])
            assert child.wait(30) == 0
            assert child.log_path.read_text().endswith("THE END\n")
