"""The observer against real things: a fake app subprocess (frozen with SIGSTOP, replaced by
another pid), the session's embedded Postgres (frozen, restarted) and the memory hook.

Timing assertions allow for a loaded 2-core host: schedule slack is 200 ms.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from harness.observe import Observer, ObserveTargets
from harness.provision.postgres import EmbeddedPostgres
from harness.provision.ready import wait_until

SLACK_S = 0.2


def _samples(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "samples.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _targets(url: str, *, app_pid: Callable[[], int | None] = lambda: None,
             pg: EmbeddedPostgres | None = None, log: Callable[[], Path | None] = lambda: None,
             hooks: bool = False, token: str | None = "s3cret") -> ObserveTargets:
    return ObserveTargets(
        app_url=url, app_pid=app_pid,
        pg_pid=(lambda: pg.pid) if pg else (lambda: None),
        pg_dsn=pg.dsn if pg else None, admin_token=token, app_log=log,
        chaos_hooks=hooks, app_name="fake-app",
    )


@contextmanager
def _observing(run_dir: Path, targets: ObserveTargets, **kwargs: Any) -> Iterator[Observer]:
    obs = Observer(run_dir, targets, t0_monotonic=time.monotonic(), **kwargs)
    obs.start()
    try:
        yield obs
    finally:
        assert obs.stop(timeout_s=5.0), "observer thread did not end within 5 s"
    assert obs.error is None, repr(obs.error)


@contextmanager
def _client_connection(dsn: str, application_name: str) -> Iterator[None]:
    """Hold one Postgres connection with ``application_name`` open (in its own thread)."""
    opened, release = threading.Event(), threading.Event()

    async def hold() -> None:
        conn = await asyncpg.connect(dsn, server_settings={"application_name": application_name})
        opened.set()
        await asyncio.to_thread(release.wait, 30.0)
        await conn.close(timeout=5.0)

    thread = threading.Thread(target=asyncio.run, args=(hold(),), daemon=True)
    thread.start()
    try:
        assert opened.wait(10.0), "test connection did not open"
        yield
    finally:
        release.set()
        thread.join(10.0)


def _assert_on_grid(samples: list[dict[str, Any]], tick_s: float) -> None:
    """Each tick started within SLACK_S of its slot, and no slot was skipped."""
    for sample in samples:
        assert abs(sample["t_s"] - sample["tick"] * tick_s) < SLACK_S, sample
    ticks = [s["tick"] for s in samples]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), ticks


def test_samples_at_tick_rate_with_fields_filled(
    fake_app: Callable[..., Any], postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    """Every tick writes one flushed line with app, process, Postgres and stderr figures; an
    error the app prints later shows up in stderr_unhandled; the schedule holds."""
    app = fake_app()
    targets = _targets(app.url, app_pid=lambda: app.child.pid, pg=postgres,
                       log=lambda: app.child.log_path)
    run_dir = tmp_path / "run"
    with _client_connection(postgres.dsn, "fake-app"), _observing(run_dir, targets, tick_s=0.25):
        time.sleep(1.1)
        assert httpx.get(app.url + "/raise", timeout=5.0, trust_env=False).status_code == 500
        time.sleep(1.0)
    samples = _samples(run_dir)
    assert 7 <= len(samples) <= 10, [s["t_s"] for s in samples]
    _assert_on_grid(samples, 0.25)
    complete = [s for s in samples if not s["missing"]]
    assert len(complete) >= len(samples) - 2, [s["missing"] for s in samples]
    for s in complete:
        assert s["live"] is True and s["ready"] is True and s["breaker"] == "closed"
        assert s["pool"]["in_use"] == 1 and s["tasks"]["queued"] == 2
        assert s["tracemalloc_bytes"] == 4096 and s["app_stats"]["profile"] == "resilient"
        assert s["app_proc"]["pid"] == app.child.pid and s["app_proc"]["rss_bytes"] > 1 << 20
        assert s["pg_proc"]["pid"] == postgres.pid and s["pg_proc"]["processes"] >= 3
        assert s["pg_connections"]["app"] == 1 and s["pg_connections"]["total"] >= 1
        assert s["pg_connections"]["max_connections"] == 200
    assert samples[0]["stderr_unhandled"] == 0 and samples[-1]["stderr_unhandled"] == 1


def test_frozen_app_is_missing_while_ticks_keep_their_schedule(
    fake_app: Callable[..., Any], tmp_path: Path
) -> None:
    """SIGSTOP the app for 1.6 s: its HTTP fields are null and named in `missing` (psutil still
    reads the stopped process), no tick is late by more than 200 ms or skipped; after SIGCONT
    the app answers again."""
    app = fake_app()
    run_dir = tmp_path / "run"
    targets = _targets(app.url, app_pid=lambda: app.child.pid)
    with _observing(run_dir, targets, tick_s=0.5, http_timeout_s=0.3) as obs:
        time.sleep(0.8)
        app.child.send_signal(signal.SIGSTOP)
        try:
            time.sleep(1.6)
        finally:
            app.child.send_signal(signal.SIGCONT)
        time.sleep(0.8)
    samples = _samples(run_dir)
    _assert_on_grid(samples, 0.5)
    frozen = [s for s in samples if "live" in s["missing"]]
    assert 2 <= len(frozen) <= 5, [(s["t_s"], s["missing"]) for s in samples]
    for s in frozen:
        assert {"live", "ready", "app_stats"} <= set(s["missing"])
        assert s["live"] is None and s["ready"] is None and s["pool"] is None
        assert s["app_proc"]["pid"] == app.child.pid
        assert s["sample_ms"] < 500  # the 0.3 s timeout bounds it, within one tick
    assert samples[-1]["live"] is True and not samples[-1]["missing"]
    summary = obs.summary()
    assert summary["ticks"] == len(samples) and summary["missing"]["live"] == len(frozen)
    assert summary["max_lag_ms"] < SLACK_S * 1000 and summary["error"] is None


def test_pid_and_log_changes_are_picked_up_and_a_dead_app_reads_not_live(
    fake_app: Callable[..., Any], tmp_path: Path
) -> None:
    """The pid and log callables are re-read each tick: a new pid appears in app_proc, errors in
    the new log add to the old count; no pid means app_proc null (not missing); a refused
    connection means live/ready false, not missing."""
    first, second = fake_app(), fake_app()
    current: dict[str, Any] = {"app": first}
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    url = f"http://127.0.0.1:{refused.getsockname()[1]}"
    for served in (first, second):
        httpx.get(served.url + "/raise", timeout=5.0, trust_env=False)
    wait_until(lambda: "Traceback" in second.child.log_path.read_text(), 5.0, what="traceback")
    targets = _targets(url, app_pid=lambda: current["app"] and current["app"].child.pid,
                       log=lambda: current["app"] and current["app"].child.log_path)
    run_dir = tmp_path / "run"
    try:
        with _observing(run_dir, targets, tick_s=0.2):
            time.sleep(0.5)
            current["app"] = second
            time.sleep(0.5)
            current["app"] = None
            time.sleep(0.5)
    finally:
        refused.close()
    samples = _samples(run_dir)
    pids = [s["app_proc"] and s["app_proc"]["pid"] for s in samples]
    assert pids[0] == first.child.pid and second.child.pid in pids and pids[-1] is None
    assert samples[0]["stderr_unhandled"] == 1 and samples[-1]["stderr_unhandled"] == 2
    for s in samples:
        assert s["live"] is False and s["ready"] is False and s["missing"] == ["app_stats"]


def test_postgres_frozen_then_restarted(postgres: EmbeddedPostgres, tmp_path: Path) -> None:
    """Freezing Postgres makes pg_connections missing without delaying ticks; after a restart the
    observer reconnects by itself and reads the new postmaster's pid."""
    run_dir = tmp_path / "run"
    old_pid = postgres.pid
    with _observing(run_dir, _targets("http://127.0.0.1:9", pg=postgres), tick_s=0.5):
        time.sleep(0.6)
        postgres.freeze()
        try:
            time.sleep(1.7)  # three ticks inside the freeze: at least two must miss pg
        finally:
            postgres.thaw()
        time.sleep(0.4)
        postgres.restart("fast")
        time.sleep(1.0)
    samples = _samples(run_dir)
    _assert_on_grid(samples, 0.5)
    missing_pg = [s for s in samples if "pg_connections" in s["missing"]]
    assert len(missing_pg) >= 2, [(s["t_s"], s["missing"]) for s in samples]
    assert samples[0]["pg_connections"] is not None and samples[0]["pg_proc"]["pid"] == old_pid
    last = samples[-1]
    assert last["pg_connections"] is not None and last["pg_proc"]["pid"] == postgres.pid
    assert postgres.pid != old_pid


def test_memory_diffs_written_when_the_hook_answers(
    fake_app: Callable[..., Any], tmp_path: Path
) -> None:
    """With chaos hooks on, nothing is called before baseline_memory(); it writes
    memory/baseline.json, then a diff file follows every memory_every_s, each with the
    harness' t_s; a wrong token writes failures only; with
    hooks off nothing is called."""
    app = fake_app(token="s3cret")
    run_dir = tmp_path / "run"
    with _observing(run_dir, _targets(app.url, hooks=True), tick_s=0.2,
                    memory_every_s=0.4) as obs:
        time.sleep(0.6)
        assert not (run_dir / "memory").exists()  # nothing before the baseline (warm-up)
        baseline = obs.baseline_memory()
        assert baseline is not None and baseline["top"][0]["site"].endswith(".py:88")
        time.sleep(1.2)
    memory = run_dir / "memory"
    assert (memory / "baseline.json").exists()
    diffs = [json.loads(p.read_text()) for p in sorted(memory.glob("diff-*.json"))]
    assert 2 <= len(diffs) <= 5, len(diffs)
    assert [d["total_bytes"] for d in diffs] == sorted(d["total_bytes"] for d in diffs)
    assert all(baseline["t_s"] < d["t_s"] < 3.0 for d in diffs)
    assert baseline["app_t_s"] == 1.0 and diffs[0]["app_t_s"] == 2.0
    assert not (memory / "failed.jsonl").exists()

    bad_dir = tmp_path / "bad"
    with _observing(bad_dir, _targets(app.url, hooks=True, token="wrong"), tick_s=0.2) as obs:
        assert obs.baseline_memory() is None
    failed = [json.loads(x) for x in (bad_dir / "memory" / "failed.jsonl").read_text().splitlines()]
    assert failed == [{"t_s": failed[0]["t_s"], "baseline": True, "error": "http_401"}]
    assert not list((bad_dir / "memory").glob("diff-*.json"))

    off_dir = tmp_path / "off"
    with _observing(off_dir, _targets(app.url, hooks=False), tick_s=0.2,
                    memory_every_s=0.2) as obs:
        assert obs.baseline_memory() is None
        time.sleep(0.5)
    assert not (off_dir / "memory").exists()


def test_stop_lets_an_in_flight_memory_diff_finish(
    fake_app: Callable[..., Any], tmp_path: Path
) -> None:
    """A snapshot that takes 1 s and is in flight when stop() is called is still written
    (stop waits within its budget), and ticks went on while it ran."""
    app = fake_app(token="s3cret", snapshot_delay_s=1.0)
    run_dir = tmp_path / "run"
    with _observing(run_dir, _targets(app.url, hooks=True), tick_s=0.2,
                    memory_every_s=0.3) as obs:
        assert obs.baseline_memory() is not None
        wait_until(lambda: obs.summary()["memory_in_flight"], 2.0, what="a memory call in flight")
        started = time.monotonic()
    assert time.monotonic() - started > 0.3  # stop waited for the call
    assert (run_dir / "memory" / "diff-0000.json").exists()
    samples = _samples(run_dir)
    assert all(s["sample_ms"] < 200 for s in samples[-3:])


def test_a_full_disk_costs_ticks_not_the_observer(tmp_path: Path) -> None:
    """samples.jsonl on a full device (/dev/full): every write fails, each failure is counted
    in the summary, the loop keeps ticking and stops cleanly; calls after stop are harmless."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "samples.jsonl").symlink_to("/dev/full")
    with _observing(run_dir, _targets("http://127.0.0.1:9", hooks=True), tick_s=0.1) as obs:
        time.sleep(0.55)
    summary = obs.summary()
    assert summary["ticks"] == 0 and 4 <= summary["tick_errors"] <= 7, summary
    assert "No space left" in (summary["last_tick_error"] or "")
    assert obs.baseline_memory() is None and obs.stop() is True


def test_a_service_without_monitoring_endpoints_is_null_not_missing(
    fake_app: Callable[..., Any], tmp_path: Path
) -> None:
    """A user's own service that serves /health only (404 elsewhere): live is true, readiness
    and every stats field are null, and nothing is reported missing, since no tick could
    ever fill them."""
    app = fake_app(minimal=True)
    run_dir = tmp_path / "run"
    with _observing(run_dir, _targets(app.url, app_pid=lambda: app.child.pid), tick_s=0.2):
        time.sleep(0.5)
    samples = _samples(run_dir)
    assert samples
    for s in samples:
        assert s["live"] is True and s["ready"] is None and s["missing"] == []
        assert s["app_stats"] is None and s["pool"] is None and s["breaker"] is None
        assert s["app_proc"]["pid"] == app.child.pid
