"""Reading the run directory: torn last lines, malformed lines, missing optional files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import VerifyError
from harness.verify.requests import read_requests
from harness.verify.rundir import RunFiles
from harness.verify.writes import WriteLedger


def test_a_torn_last_line_is_skipped_and_a_bad_middle_line_names_file_and_line(
    tmp_path: Path
) -> None:
    """A writer killed mid-line leaves a last line without newline: it is dropped. A broken
    line in the middle is corruption: VerifyError with file:line. Raw app_stats bodies are
    not kept in memory."""
    (tmp_path / "samples.jsonl").write_text(
        '{"t_s": 1.0, "app_stats": {"big": 1}}\n{"t_s": 2.0}\n{"t_s": 3.')
    samples = RunFiles(tmp_path).samples()
    assert [s.t_s for s in samples] == [1.0, 2.0] and samples[0].app_stats is None
    (tmp_path / "timeline.jsonl").write_text('{"event": "run_start", "t_s": 0}\n{oops\n'
                                             '{"event": "run_end", "t_s": 9}\n')
    with pytest.raises(VerifyError, match=r"timeline\.jsonl:2"):
        RunFiles(tmp_path).timeline()


def test_missing_optional_files_read_as_empty(tmp_path: Path) -> None:
    """No timeline, samples, memory diffs or final read: empty lists and None, no error."""
    files = RunFiles(tmp_path)
    assert files.timeline() == [] and files.samples() == [] and files.memory_diffs() == []
    assert files.final_read() is None and files.run_info() is None
    assert len(read_requests(files.requests_csv(), WriteLedger())) == 0


def test_requests_csv_bad_number_names_the_line_and_torn_row_is_padded(tmp_path: Path) -> None:
    """A non-number latency on line 3 is named; a torn last row (fewer columns) is read."""
    header = "t_s,name,status,ok,latency_ms,error,write_key,ack,attempt\n"
    p = tmp_path / "requests.csv"
    p.write_text(header + "1.0,read_history,200,1,5.0,,,,1\n2.0,read_history,200,1,fast,,,,1\n")
    with pytest.raises(VerifyError, match=r"requests\.csv:3"):
        read_requests(p, WriteLedger())
    p.write_text(header + "1.0,read_history,200,1,5.0,,,,1\n2.0,post_message,201,1,4.0,,k1")
    ledger = WriteLedger()
    table = read_requests(p, ledger)
    assert len(table) == 2 and list(ledger.order) == ["k1"] and not ledger.acked
    p.write_text("t_s,name\n1.0,x\n")
    with pytest.raises(VerifyError, match="lacks column"):
        read_requests(p, WriteLedger())
