"""The request log in either form: requests.csv.gz (new runs, written by the merge) and
requests.csv (run directories from before the switch) verify and render alike."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

from verifykit import RunDirBuilder

from harness.load.command import merge_request_files, remove_request_files
from harness.report import render_run
from harness.requests_file import REQUESTS_GZ, open_requests, requests_path
from harness.verify import verify_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from report_rundirs import make_run_dir  # noqa: E402

HEADER = "t_s,name,status,ok,latency_ms,error,write_key,ack,attempt\n"


def _comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "verify_seconds"}


def _gzip_log(run_dir: Path) -> None:
    plain = run_dir / "requests.csv"
    with plain.open("rb") as src, gzip.open(run_dir / REQUESTS_GZ, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst)
    plain.unlink()


def test_both_forms_give_the_same_result_json(tmp_path: Path) -> None:
    """A hand-made run directory verifies to the same result.json with its log plain or gzipped
    (the old and the new form), faults, retries and a lost write included."""
    b = RunDirBuilder(tmp_path / "plain")
    for i in range(400):
        t = 1.0 + i * 0.1
        bad = 15.0 <= t < 18.0
        b.write_attempt(t, f"k-{i}", 503 if bad else 201, ok=not bad)
        if bad:
            b.write_attempt(t + 0.05, f"k-{i}", 201, attempt=2)
    # every key read back but one acknowledged write: lost, so the evidence pass reads the log
    b.final_read({f"k-{i}": 1 for i in range(400) if i != 3})
    b.write()
    plain = tmp_path / "plain"
    zipped = tmp_path / "zipped"
    shutil.copytree(plain, zipped)
    _gzip_log(zipped)
    assert requests_path(zipped) == zipped / REQUESTS_GZ and requests_path(plain) == \
        plain / "requests.csv"
    a, z = verify_run(plain), verify_run(zipped)
    assert _comparable(a) == _comparable(z)
    assert a["metrics"]["run"]["requests"] > 400
    assert a["writes"]["lost"] == 1 and a["writes"]["lost_attempts"]["k-3"][0]["status"] == 201


def test_old_and_new_run_dirs_render(tmp_path: Path) -> None:
    """A run directory with plain requests.csv (written before the switch) and its gzipped
    copy both verify and render, with the same request counts in report.md."""
    old = make_run_dir(tmp_path / "old")
    new = tmp_path / "new"
    shutil.copytree(old, new)
    _gzip_log(new)
    for run_dir in (old, new):
        verify_run(run_dir)
        paths = render_run(run_dir)
        assert (run_dir / "report.html").is_file() and len(paths) > 3
    assert json.loads((old / "result.json").read_text())["metrics"] == \
        json.loads((new / "result.json").read_text())["metrics"]


def test_merge_writes_gzip_and_drops_a_torn_last_line(tmp_path: Path) -> None:
    """The merge compresses as it writes; a killed process' torn last line is still dropped;
    the per-process files can then go, workers.jsonl stays."""
    d = tmp_path / "requests"
    d.mkdir()
    (d / "requests-1.csv").write_text(HEADER + "1.0,join_room,201,1,2.0,,k1,1,1\n3.0,jo")
    (d / "requests-2.csv").write_text(HEADER + "2.0,read_history,200,1,1.0,,,,1\n")
    (d / "workers.jsonl").write_text("")
    counts: dict[str, int] = {}
    out = tmp_path / REQUESTS_GZ
    assert merge_request_files(d, out, counts=counts) == 2
    assert counts == {"rows": 2, "writes": 1}
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    text = gzip.decompress(out.read_bytes()).decode()
    assert text == HEADER + "1.0,join_room,201,1,2.0,,k1,1,1\n2.0,read_history,200,1,1.0,,,,1\n"
    assert remove_request_files(d) == 2
    assert [p.name for p in d.iterdir()] == ["workers.jsonl"]


def test_a_gzip_cut_short_reads_up_to_where_it_stops(tmp_path: Path) -> None:
    """A merge killed mid-write leaves a gzip without its end: the rows before the cut read."""
    body = HEADER + "".join(f"{i}.0,read_history,200,1,1.0,,,,1\n" for i in range(20000))
    whole = gzip.compress(body.encode(), compresslevel=1)
    cut = tmp_path / REQUESTS_GZ
    cut.write_bytes(whole[: len(whole) * 3 // 4])
    with open_requests(cut) as fh:
        lines = fh.read().split("\n")
    assert lines[0] + "\n" == HEADER and 1000 < len(lines) < 20001
    assert body.startswith("\n".join(lines[:-1]))
