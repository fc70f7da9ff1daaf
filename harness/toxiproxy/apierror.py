"""The error an API handler raises to answer with a status code and Toxiproxy's error body.

It never leaves the server: the HTTP layer turns it into
``{"error": "<message>", "status": <code>}`` plus a newline (and, for
``/populate``, the proxies created before the failure).
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "bad_request",
    "missing_field",
]

PROXY_NOT_FOUND = "proxy not found"
TOXIC_NOT_FOUND = "toxic not found"
PROXY_EXISTS = "proxy already exists"
TOXIC_EXISTS = "toxic already exists"
INVALID_STREAM = "stream was invalid, can be either upstream or downstream"
INVALID_TOXIC_TYPE = "invalid toxic type"


class ApiError(Exception):
    """An API failure: HTTP ``status`` and Toxiproxy's ``message`` for it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, object]:
        """The JSON error body Toxiproxy sends."""
        return {"error": self.message, "status": self.status}


def bad_request(detail: str) -> ApiError:
    """400 ``bad request body: <detail>`` (malformed JSON, wrong types, bad attribute values)."""
    return ApiError(400, f"bad request body: {detail}")


def missing_field(what: str) -> ApiError:
    """400 ``missing required field: <what>``."""
    return ApiError(400, f"missing required field: {what}")
