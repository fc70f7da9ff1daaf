"""Logging for the reference app: one line per record, the request id in every line.

The request id lives in a context variable set by the request middleware, so
any log call made while serving a request (in the route, in the database layer,
in a task it spawned) carries it; outside a request the field is ``-``.
Structured error lines of the error boundary are written by the boundary itself
and are not touched here.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from typing import TextIO

__all__ = ["REQUEST_ID", "OneLineExceptions", "RequestIdFilter", "configure_logging",
           "current_request_id"]

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s"


def current_request_id() -> str:
    """The id of the request being served in this context, or ``-``."""
    return REQUEST_ID.get()


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` from the context (keeps one set explicitly)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class OneLineExceptions(logging.Filter):
    """Renders a logged exception as ``(Type: message)`` at the end of its line.

    A multi-line traceback on stderr means an *unhandled* error to the harness'
    stderr scanner; errors that a library logs while handling them (asyncpg's
    "Failed to restore the pool connection floor; retrying") are not that, so
    they stay one line. Unhandled errors are written by the error boundary.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def configure_logging(level: str = "info", stream: TextIO | None = None) -> logging.Handler:
    """Send the app's and uvicorn's loggers to one stderr handler with the request id.

    Returns the handler so a caller (a test, the shutdown path) can flush or
    remove it. Idempotent: a second call replaces the handler it added before.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.set_name("reference_impl")
    # the driver's own handled errors: one line each (see OneLineExceptions)
    driver = logging.StreamHandler(stream or sys.stderr)
    driver.setFormatter(logging.Formatter(LOG_FORMAT))
    driver.addFilter(RequestIdFilter())
    driver.addFilter(OneLineExceptions())
    driver.set_name("reference_impl")
    for name, target in (("reference_impl", handler), ("uvicorn", handler),
                         ("uvicorn.error", handler), ("asyncpg", driver)):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "reference_impl"]:
            logger.removeHandler(old)
        logger.addHandler(target)
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
    return handler
