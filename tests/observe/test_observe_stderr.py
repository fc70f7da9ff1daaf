"""The stderr scanner: structured lines, raw, chained and grouped tracebacks, incremental reads,
and the genuine output of uvicorn and asyncio for an app with no error boundary."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from harness.observe import StderrScanner, scan_stderr
from harness.provision.ready import wait_until


def _formatted(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def _raised(factory: type[BaseException], *args: object) -> BaseException:
    """A real raised exception, with a real traceback."""
    try:
        raise factory(*args)
    except BaseException as exc:  # noqa: BLE001 - returned for formatting
        return exc


def _chained(explicit: bool) -> BaseException:
    """RuntimeError raised while handling a raised KeyError: ``from`` it, or implicitly."""
    try:
        try:
            {}["missing"]  # noqa: B018 - raises on purpose
        except KeyError as inner:
            if explicit:
                raise RuntimeError("lookup failed") from inner
            raise RuntimeError("while handling")  # noqa: B904 - the implicit chain is the point
    except RuntimeError as exc:
        return exc
    raise AssertionError("unreachable")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.log"
    path.write_text(text)
    return path


def test_structured_lines_count_and_tracebacks_inside_json_do_not(tmp_path: Path) -> None:
    """JSON lines with event unhandled_error count once each, even with a traceback inside;
    other JSON events and plain log lines count nothing."""
    tb = _formatted(_raised(ValueError, "x"))
    lines = [
        json.dumps({"event": "unhandled_error", "class": "database", "traceback": tb}),
        json.dumps({"event": "request", "status": 500}),
        json.dumps({"event": "unhandled_error", "class": "task"}),
        "INFO:     Application startup complete.",
        '{"not json',
    ]
    assert scan_stderr(_write(tmp_path, "\n".join(lines) + "\n")) == 2


def test_raw_and_chained_tracebacks_count_once_each(tmp_path: Path) -> None:
    """A plain traceback counts 1; an explicit (from) and an implicit (during handling) chain
    each count 1, not one per section; two separate errors in a row count 2."""
    plain = _formatted(_raised(KeyError, "a"))
    caused = _formatted(_chained(explicit=True))
    during = _formatted(_chained(explicit=False))
    assert "direct cause" in caused and "During handling" in during
    text = "INFO: started\n" + plain + caused + "some log line\n" + during + plain
    assert scan_stderr(_write(tmp_path, text)) == 4


def test_exception_group_counts_once(tmp_path: Path) -> None:
    """An ExceptionGroup with two sub-exceptions (each with its own inner traceback) is 1 error."""
    group = ExceptionGroup("many", [_raised(ValueError, "1"), _raised(TypeError, "2")])
    text = _formatted(_raised(ExceptionGroup, "many", [*group.exceptions]))
    assert text.count("Traceback (most recent call last)") >= 3
    assert scan_stderr(_write(tmp_path, text)) == 1


def test_indented_traceback_text_is_not_a_header(tmp_path: Path) -> None:
    """A traceback quoted with indentation (e.g. in a multi-line message) is not counted."""
    quoted = "".join("    " + line + "\n" for line in _formatted(_raised(ValueError)).splitlines())
    assert scan_stderr(_write(tmp_path, quoted)) == 0


def test_incremental_scan_waits_for_complete_lines_and_survives_truncation(tmp_path: Path) -> None:
    """Appended text is read once; a half-written header is not counted until its newline;
    a truncated file is re-read from the start; a second file adds to the total."""
    path = tmp_path / "app.log"
    scanner = StderrScanner()
    assert scanner.total_or_none is None
    path.write_text("Traceback (most rec")
    assert scanner.scan(path) == 0
    with path.open("a") as fh:
        fh.write("ent call last):\n  File \"x.py\", line 1\nValueError: v\n")
    assert scanner.scan(path) == 1
    assert scanner.scan(path) == 1  # nothing new: nothing counted twice
    path.write_text(json.dumps({"event": "unhandled_error"}) + "\n")  # shrank: replaced
    assert scanner.scan(path) == 1
    other = tmp_path / "app-2.log"
    other.write_text(_formatted(_raised(KeyError, "z")))
    assert scanner.scan(other) == 2
    assert scan_stderr(_write(tmp_path, "Traceback (most recent call last):")) == 1  # final


def test_real_uvicorn_and_asyncio_output_is_counted(serve_script: Callable[..., Any]) -> None:
    """Real uvicorn serving an app with no boundary: a raising handler, a chained raise, a
    dropped failing task and one structured line make exactly 4 errors; startup logs make 0."""
    served = serve_script("crashy_asgi.py", "crashy")
    log = served.child.log_path
    wait_until(lambda: "Application startup complete" in log.read_text(), 15.0,
               what="uvicorn startup", on_timeout=served.child.log_tail)
    assert scan_stderr(log) == 0
    with httpx.Client(base_url=served.url, timeout=5.0, trust_env=False) as client:
        assert client.get("/boom").status_code == 500
        assert client.get("/chained").status_code == 500
        assert client.get("/task").status_code == 200
        assert client.get("/json").status_code == 200
    wait_until(lambda: "Task exception was never retrieved" in log.read_text(), 5.0,
               what="asyncio's task error", on_timeout=served.child.log_tail)
    text = log.read_text()
    assert text.count("Exception in ASGI application") == 2
    assert "direct cause" in text
    assert scan_stderr(log) == 4, text
