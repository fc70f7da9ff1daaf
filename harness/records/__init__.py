"""Typed records of the run directory's files (docs/run-directory.md), one per file.

Every writer builds a record and writes its ``to_json()``; every reader parses with
``from_json`` and works on typed fields, so a file's shape is declared once:

- :class:`~harness.records.run_info.RunInfo`: ``run.json``
- :class:`~harness.records.timeline.TimelineEvent`: one line of ``timeline.jsonl``
- :class:`~harness.records.samples.Sample`: one line of ``samples.jsonl``
- :data:`~harness.records.requests.REQUEST_COLUMNS`: the columns of ``requests.csv(.gz)``
- :class:`~harness.records.final_read.FinalReadRecord`: ``final_read.json``
- :class:`~harness.records.result.ResultRecord`: ``result.json``

Stdlib only, so the Locust process imports it too. The format version
(:data:`~harness.records.base.FORMAT_VERSION`, ``format`` in run.json, result.json and
final_read.json) and what happens to older and newer run directories are described in
:mod:`harness.records.base`. A malformed file raises
:class:`~harness.records.base.RecordError`, which names the file and the field.
"""

from harness.records.base import FORMAT_VERSION, LEGACY_FORMAT, RecordError
from harness.records.final_read import FinalReadRecord
from harness.records.requests import REQUEST_COLUMNS
from harness.records.result import ResultRecord
from harness.records.run_info import RunInfo
from harness.records.samples import Sample
from harness.records.timeline import FaultEffect, TimelineEvent

__all__ = ["FORMAT_VERSION", "LEGACY_FORMAT", "REQUEST_COLUMNS", "FaultEffect",
           "FinalReadRecord", "RecordError", "ResultRecord", "RunInfo", "Sample",
           "TimelineEvent"]
