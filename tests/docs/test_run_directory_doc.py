"""docs/run-directory.md and the records (harness/records) agree: every field a record
writes is in the document's example of its file, and every key the example shows is a
field of the record (or, for a timeline line, a declared field of its event). A field added
to a record without the document, or documented without the record, fails here."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from harness.records import (
    FORMAT_VERSION,
    REQUEST_COLUMNS,
    FinalReadRecord,
    ResultRecord,
    RunInfo,
    Sample,
)
from harness.records.timeline import EVENT_FIELDS, FAULT_EVENTS, FAULT_FIELDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "run-directory.md"
_COMMENT = re.compile(r"(?<=\s)//.*$", re.M)
_BASE = {"event", "t_s", "wall"}


def _section(title: str) -> str:
    """The text under ``## <title>`` up to the next ``## `` heading."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def _json_block(title: str) -> str:
    blocks = re.findall(r"```json\n(.*?)```", _section(title), re.S)
    assert blocks, f"no json example under ## {title}"
    return _COMMENT.sub("", blocks[0])


def _objects(block: str) -> list[set[str]]:
    """The keys of each top-level object of an example (one per line of a .jsonl), read
    with a small scanner: the examples hold comments and ``"a" | "b"`` alternatives."""
    objects: list[set[str]] = []
    depth, i = 0, 0
    while i < len(block):
        c = block[i]
        if c == '"':
            end = block.index('"', i + 1)
            word, i = block[i + 1:end], end + 1
            if depth == 1 and re.match(r"\s*:", block[i:]) and word != "...":
                objects[-1].add(word)
            continue
        if c in "{[":
            depth += 1
            if depth == 1:
                objects.append(set())
        elif c in "}]":
            depth -= 1
        i += 1
    return objects


def _field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)} - {"extra"}


@pytest.mark.parametrize(("title", "record"), [
    ("run.json", RunInfo), ("samples.jsonl", Sample), ("final_read.json", FinalReadRecord),
    ("result.json", ResultRecord)])
def test_each_file_example_shows_exactly_its_record_fields(title: str, record: type) -> None:
    (keys,) = _objects(_json_block(title))
    assert keys == _field_names(record), (
        f"docs/run-directory.md ## {title} and {record.__name__} differ: only in the doc "
        f"{sorted(keys - _field_names(record))}, only in the record "
        f"{sorted(_field_names(record) - keys)}")


def test_timeline_lines_are_the_records_events_and_fields() -> None:
    """Each documented line has only the fields its event declares (a fault's lines the
    fault fields); every declared event has a documented line; every fault field is named."""
    section = _section("timeline.jsonl")
    lines = _lines_by_event(_json_block("timeline.jsonl"))
    for event, keys in lines.items():
        allowed = _BASE | (set(FAULT_FIELDS) if event in FAULT_EVENTS else
                           set(EVENT_FIELDS.get(event, ("<undeclared event>",))))
        assert keys <= allowed, f"{event}: documented fields {sorted(keys - allowed)} " \
                                "are not declared in harness/records/timeline.py"
        if event in EVENT_FIELDS:
            assert set(EVENT_FIELDS[event]) <= keys, (
                f"{event}: declared fields {sorted(set(EVENT_FIELDS[event]) - keys)} are not "
                "in its documented line")
    assert set(EVENT_FIELDS) | FAULT_EVENTS <= set(lines), \
        f"events without a documented line: {sorted(set(EVENT_FIELDS) - set(lines))}"
    missing = [f for f in FAULT_FIELDS if f'"{f}"' not in section and f"`{f}`" not in section]
    assert not missing, f"fault fields not documented: {missing}"


def _lines_by_event(block: str) -> dict[str, set[str]]:
    """The union of the keys of the documented lines of each event."""
    out: dict[str, set[str]] = {}
    starts = [m.start() for m in re.finditer(r'^\{"event"', block, re.M)]
    for pos, start in enumerate(starts):
        chunk = block[start:starts[pos + 1] if pos + 1 < len(starts) else len(block)]
        event = re.match(r'\{"event":\s*"(\w+)"', chunk)
        assert event is not None
        (keys,) = _objects(chunk)
        out.setdefault(event.group(1), set()).update(keys)
    return out


def test_request_columns_are_the_documented_header() -> None:
    section = _section("requests.csv.gz")
    assert "\n" + ",".join(REQUEST_COLUMNS) + "\n" in section


def test_the_format_versions_are_documented() -> None:
    """Every format version up to the current one is described, with what happens to a newer."""
    section = _section("Format versions")
    for version in range(1, FORMAT_VERSION + 1):
        assert f"`{version}`" in section, version
    assert "newer" in section
