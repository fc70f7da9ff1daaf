"""A real run directory, doctored three ways, is judged `unknown`, never `pass`: verify must
not read a missing record as a clean one.

One short real run (embedded Postgres, the proxy, Locust, the reference app) passes its SLOs
on writes and memory. Copies of its directory then lose one kind of evidence each and are
judged again by the real verify:

- the request log without its ``write_key`` column: the write accounting has no keys;
- samples without the app's memory fields (RSS and the memory-warning counter);
- a request log with every write taken out (zero writes attempted).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.requests_file import REQUESTS_GZ
from harness.run import run_scenario
from harness.verify import verify_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = """
name = "doctored"
seed = 3
duration = "10s"
warmup = "2s"
cooldown = "2s"

[load]
users = 6
spawn_rate = 6
wait_ms = [20, 60]
mix = { post_message = 6, read_history = 2, join_room = 1 }

[slo.run]
lost_writes = "== 0"
duplicated_writes = "== 0"
peak_rss_mb = "< 2000"
memory_warnings_per_hour = "== 0"
"""

WRITE_SLOS = {"lost_writes@run", "duplicated_writes@run"}
MEMORY_SLOS = {"peak_rss_mb@run", "memory_warnings_per_hour@run"}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("doctored")
    path = tmp / "doctored.toml"
    path.write_text(SCENARIO)
    outcome = run_scenario(path, reports_dir=tmp / "reports", quiet=True)
    assert outcome.status == "complete" and outcome.result is not None, outcome.error
    assert outcome.result["verdict"] == "pass", outcome.result["expectation_reasons"]
    return outcome.run_dir


def _verdicts(result: dict[str, Any]) -> dict[str, str]:
    return {f"{s['name']}@{s['phase']}": s["verdict"] for s in result["slos"]}


def _copy(run: Path, into: Path) -> Path:
    return Path(shutil.copytree(run, into / run.name))


def _rewrite_requests(run: Path, keep_row: Any, drop_column: str | None = None) -> int:
    """Rewrite the gzipped request log; returns how many rows are left."""
    rows = list(csv.DictReader(io.StringIO(gzip.decompress((run / REQUESTS_GZ).read_bytes())
                                           .decode())))
    fields = [f for f in rows[0] if f != drop_column]
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    kept = [r for r in rows if keep_row(r)]
    writer.writerows(kept)
    (run / REQUESTS_GZ).write_bytes(gzip.compress(out.getvalue().encode()))
    return len(kept)


def test_the_clean_run_passes_every_slo(clean_run: Path) -> None:
    verdicts = _verdicts(json.loads((clean_run / "result.json").read_text()))
    assert set(verdicts.values()) == {"pass"}, verdicts


def test_a_request_log_without_write_keys_is_unknown_never_pass(clean_run: Path,
                                                                 tmp_path: Path) -> None:
    run = _copy(clean_run, tmp_path)
    assert _rewrite_requests(run, lambda r: True, drop_column="write_key") > 0
    verdicts = _verdicts(verify_run(run))
    assert {verdicts[s] for s in WRITE_SLOS} == {"unknown"}, verdicts


def test_samples_without_memory_fields_are_unknown_never_pass(clean_run: Path,
                                                               tmp_path: Path) -> None:
    run = _copy(clean_run, tmp_path)
    lines = []
    for line in (run / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line)
        sample.pop("app_proc", None)
        sample.pop("memory_warnings", None)
        lines.append(json.dumps(sample))
    (run / "samples.jsonl").write_text("\n".join(lines) + "\n")
    verdicts = _verdicts(verify_run(run))
    assert {verdicts[s] for s in MEMORY_SLOS} == {"unknown"}, verdicts
    assert {verdicts[s] for s in WRITE_SLOS} == {"pass"}, verdicts  # the rest still judged


def test_zero_writes_attempted_is_unknown_never_pass(clean_run: Path, tmp_path: Path) -> None:
    run = _copy(clean_run, tmp_path)
    assert _rewrite_requests(run, lambda r: not r["write_key"]) > 0
    verdicts = _verdicts(verify_run(run))
    assert {verdicts[s] for s in WRITE_SLOS} == {"unknown"}, verdicts
