"""The reference implementation: the system under test of chaosharness.

A small collaboration service (sessions, rooms, messages with idempotency keys,
node lookup, construction plans) built on the full resilience stack, plus a
``naive`` profile with the same API and none of the protection, as the negative
control. Run it with ``python -m reference_impl serve``; see
``reference_impl.config`` for every setting.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
