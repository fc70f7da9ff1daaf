"""Start, stop and crash the pieces of a run: embedded Postgres, the fault proxy, the app, Locust.

``process.py`` is the only module that creates or signals processes.
"""
