"""The app's logging: a driver's handled error is one line (no traceback for the harness' stderr
scanner to count as unhandled), while uvicorn's unhandled-error tracebacks stay whole."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from harness.observe import StderrScanner
from reference_impl.app.logs import configure_logging


def _log_error(name: str) -> None:
    try:
        raise ConnectionRefusedError("connect failed")
    except ConnectionRefusedError:
        logging.getLogger(name).warning("Failed to restore the pool connection floor; retrying",
                                        exc_info=True)


def test_driver_errors_are_one_line_and_uvicorn_tracebacks_stay(tmp_path: Path) -> None:
    """Provoke: asyncpg.pool and uvicorn.error log an exception each. Must hold: asyncpg's is one
    line naming the exception and counts 0; uvicorn's keeps its traceback and counts 1."""
    stream = io.StringIO()
    handler = configure_logging("info", stream)
    try:
        _log_error("asyncpg.pool")
        first = stream.getvalue()
        _log_error("uvicorn.error")
        second = stream.getvalue()[len(first):]
    finally:
        for name in ("reference_impl", "uvicorn", "uvicorn.error", "asyncpg"):
            for h in [h for h in logging.getLogger(name).handlers if h.get_name() == "reference_impl"]:
                logging.getLogger(name).removeHandler(h)
        handler.close()
    assert first.count("\n") == 1 and "(ConnectionRefusedError: connect failed)" in first
    assert "Traceback (most recent call last):" in second
    log = tmp_path / "app.log"
    log.write_text(first)
    assert StderrScanner().scan(log, final=True) == 0
    log.write_text(first + second)
    assert StderrScanner().scan(log, final=True) == 1
