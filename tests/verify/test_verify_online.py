"""The online lost-write checker against a real Postgres and a growing requests.csv."""

from __future__ import annotations

import time
from pathlib import Path

from harness.provision.pg_probe import execute
from harness.provision.ready import wait_until
from harness.verify.online import CsvTail, OnlineWriteChecker

SQL = "select idempotency_key, count(*) from messages group by 1"
HEADER = "t_s,name,status,ok,latency_ms,error,write_key,ack,attempt\n"


def _row(t_s: float, key: str, ack: int = 1) -> str:
    status = 201 if ack else 0
    return f"{t_s},post_message,{status},{ack},5.0,,{key},{ack},1\n"


def test_csv_tail_reads_only_complete_appended_lines(tmp_path: Path) -> None:
    """A torn last line is held back until its newline arrives; nothing is read twice."""
    p = tmp_path / "requests.csv"
    p.write_text(HEADER + _row(1.0, "a") + "2.0,post_mes")
    tail = CsvTail(p)
    assert [r["write_key"] for r in tail.new_rows()] == ["a"]
    assert tail.new_rows() == []
    with p.open("a") as fh:
        fh.write("sage,201,1,5.0,,b,1,1\n")
    assert [r["write_key"] for r in tail.new_rows()] == ["b"]


def test_online_checker_flags_an_acked_key_missing_from_a_later_read(
    fresh_db: str, tmp_path: Path
) -> None:
    """Keys a and b are acked and committed: several polls pass without a violation. Then
    the CSV records an ack for c, which never reached the table: the checker must name c,
    with the ack time before the read's start. An unacked missing key is never flagged."""
    execute(fresh_db, "create table messages (idempotency_key text)")
    execute(fresh_db, "insert into messages values ('a'), ('b')")
    csv_path = tmp_path / "requests.csv"
    csv_path.write_text(HEADER + _row(1.0, "a") + _row(1.5, "b") + _row(1.7, "x", ack=0))
    t0 = time.monotonic() - 10.0
    checker = OnlineWriteChecker(fresh_db, SQL, tmp_path, t0, interval_s=0.05)
    checker.start()
    try:
        wait_until(lambda: checker.polls >= 3, 20.0, what="three online polls")
        assert checker.violation is None and checker.acknowledged == 2
        with csv_path.open("a") as fh:
            fh.write(_row(time.monotonic() - t0, "c"))
        wait_until(lambda: checker.violation is not None, 20.0, what="the lost write flagged")
    finally:
        checker.stop()
    v = checker.violation
    assert v is not None and v["key"] == "c"
    assert v["acked_t_s"] < v["read_started_t_s"]
    assert "acknowledged" in v["evidence"]


def test_online_checker_survives_an_unreachable_database(tmp_path: Path) -> None:
    """A DSN nobody listens on: polls fail, are counted as read errors, and no violation is
    invented from an empty read; stop() returns within its bound."""
    (tmp_path / "requests.csv").write_text(HEADER + _row(1.0, "a"))
    checker = OnlineWriteChecker("postgresql://postgres@127.0.0.1:1/postgres", SQL, tmp_path,
                                 time.monotonic() - 10.0, interval_s=0.05)
    checker.start()
    try:
        wait_until(lambda: checker.read_errors >= 2, 20.0, what="two failed reads")
    finally:
        started = time.monotonic()
        checker.stop()
        assert time.monotonic() - started < 15.0
    assert checker.violation is None and checker.last_error
