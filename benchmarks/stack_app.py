"""The hook benchmarks/stack.py reads: database, health and bootstrap figures.

They need Postgres and the app process, so they live in benchmarks/app.py; this
module only hands ``measure()`` over under the name stack.py looks for.
"""

from __future__ import annotations

from benchmarks.app import measure

__all__ = ["measure"]
