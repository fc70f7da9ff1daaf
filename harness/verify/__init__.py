"""Verify: turn a run directory into metrics, SLO verdicts and an exit code.

Reads only the run directory's files (docs/run-directory.md), writes ``result.json``.
"""
