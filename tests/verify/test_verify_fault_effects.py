"""What a fault did comes from the timeline's ``affects``/``link``/``undo`` fields, never from
its action's name: app windows, app restarts, "Postgres is back" and the recovery start,
each on hand-made run directories, plus the catalogue fallback for old run directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from verifykit import RunDirBuilder, samples_of

from harness.errors import VerifyError
from harness.faults.catalog import FaultEffect
from harness.verify.process import _app_fault_windows, _crashes, _startup
from harness.verify.rundir import RunFiles, TimelineEvent
from harness.verify.windows import fault_windows


def _events(b: RunDirBuilder) -> list[TimelineEvent]:
    return RunFiles(b.write()).timeline()


def _pid_samples(changes: dict[int, int | None], end: int = 66) -> list[dict[str, Any]]:
    """One sample a second; the app's pid is the last value in ``changes`` at or before t."""
    out, pid = [], None
    for t in range(end):
        pid = changes.get(t, pid)
        out.append({"t_s": float(t), "missing": [], "app_proc": {"pid": pid} if pid else None})
    return out


def _ready_samples(not_ready: tuple[float, float], extra_ready: float) -> list[dict[str, Any]]:
    lo, hi = not_ready
    samples = [{"t_s": float(t), "ready": not lo <= t < hi} for t in range(0, 40)]
    samples.append({"t_s": extra_ready, "ready": True})
    return sorted(samples, key=lambda s: s["t_s"])


# -- app windows: the faults whose affects is "app" ------------------------------------


def test_app_windows_are_the_faults_that_affect_the_app(tmp_path: Path) -> None:
    """An action the catalogue never heard of, recorded as affecting the app, opens an app
    window (its pid change is no crash); app.kill recorded as affecting a link does not
    (the recorded field wins over the name)."""
    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "custom.bounce", 20.0, 22.0, affects="app", undo="restart")
    b.fault(1, "app.kill", 40.0, 42.0, affects="link", link="payments", undo="remove")
    events = _events(b)
    assert _app_fault_windows(events) == [(20.0, 22.0)]
    samples = _pid_samples({0: 100, 21: 200, 41: 300})
    crashes = _crashes([], events, samples_of(samples), load_end_s=65.0)
    assert [(c["t_s"], c["pid"]) for c in crashes] == [(41.0, 200)]


def test_a_network_fault_on_a_dependency_is_not_an_app_window(tmp_path: Path) -> None:
    """network.down on the ``payments`` link: the app's pid changing inside it is a crash."""
    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "network.down", 20.0, 30.0, params={"proxy": "payments"})
    events = _events(b)
    assert events[2].effect == FaultEffect("link", "remove", "payments")
    assert _app_fault_windows(events) == []
    crashes = _crashes([], events, samples_of(_pid_samples({0: 100, 25: 200})), load_end_s=65.0)
    assert [c["t_s"] for c in crashes] == [25.0]


# -- app restarts and "Postgres is back" for startup -----------------------------------


def test_startup_counts_from_the_postgres_link_coming_back(tmp_path: Path) -> None:
    """The ``postgres`` link down 10..22 s, the app killed and restarted 12..13 s, first ready
    at 23.5 s: the link's removal is Postgres back, so startup is 1.5 s."""
    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "network.down", 10.0, 22.0, params={"proxy": "postgres"})
    b.fault(1, "app.kill", 12.0, 13.0)
    got = _startup(samples_of(_ready_samples((10, 23.5), 23.5)), _events(b))
    assert got["value"] == 1.5 and got["starts"][1]["from"] == "postgres_ready"


def test_a_network_fault_on_another_link_is_never_postgres_back(tmp_path: Path) -> None:
    """The same, but the link is the ``payments`` dependency: its removal at 22 s says
    nothing about Postgres, so startup counts from the restart at 13 s (10.5 s)."""
    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "network.down", 10.0, 22.0, params={"proxy": "payments"})
    b.fault(1, "app.kill", 12.0, 13.0)
    got = _startup(samples_of(_ready_samples((10, 23.5), 23.5)), _events(b))
    assert got["value"] == 10.5 and got["starts"][1]["from"] == "start"


def test_postgres_back_and_app_restarts_come_from_the_recorded_fields(tmp_path: Path) -> None:
    """Unknown action names recorded as a Postgres outage (undone by a restart) and an app
    restart: the outage's removal is Postgres back, the other's removal an app start. A
    ``postgres.*`` name recorded as affecting another link is not Postgres back."""
    b = RunDirBuilder(tmp_path / "a").bounds()
    b.fault(0, "custom.db_outage", 10.0, 22.0, affects="postgres", undo="restart")
    b.fault(1, "custom.bounce", 12.0, 13.0, affects="app", undo="restart")
    got = _startup(samples_of(_ready_samples((10, 23.5), 23.5)), _events(b))
    assert [s["started_t_s"] for s in got["starts"]] == [0.0, 13.0]
    assert got["value"] == 1.5 and got["starts"][1]["from"] == "postgres_ready"
    b = RunDirBuilder(tmp_path / "b").bounds()
    b.fault(0, "postgres.stop", 10.0, 22.0, affects="link", link="payments", undo="remove")
    b.fault(1, "app.kill", 12.0, 13.0)
    got = _startup(samples_of(_ready_samples((10, 23.5), 23.5)), _events(b))
    assert got["value"] == 10.5 and got["starts"][1]["from"] == "start"


def test_an_app_fault_undone_without_a_restart_is_no_restart(tmp_path: Path) -> None:
    """app.freeze (affects the app, undone by a thaw) starts nothing: one start only."""
    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "app.freeze", 12.0, 14.0)
    samples = [{"t_s": float(t), "ready": t >= 1} for t in range(0, 40)]
    got = _startup(samples_of(samples), _events(b))
    assert [s["started_t_s"] for s in got["starts"]] == [0.0] and got["value"] == 1.0


# -- the recovery start: postgres_ready only for a fault that took Postgres away --------


@pytest.mark.parametrize(("proxy", "expected"), [("postgres", (26.0, "postgres_ready")),
                                                 ("payments", (25.0, "removed"))])
def test_recovery_waits_for_postgres_only_after_a_postgres_fault(
    tmp_path: Path, proxy: str, expected: tuple[float, str]
) -> None:
    """Latency on a link removed at 25 s, Postgres ready at 26 s: on the ``postgres`` link
    recovery counts from 26 s; on the ``payments`` link from its own removal."""
    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "network.latency", 20.0, 25.0, params={"proxy": proxy, "latency": 500})
    b.event("postgres_ready", 26.0)
    (w,) = fault_windows(_events(b), 65.0)
    assert (w.recovery_from_s, w.recovery_from) == expected
    assert w.effect is not None and w.effect.link == proxy and w.hits_postgres == (
        proxy == "postgres")


# -- old run directories and malformed fields ------------------------------------------


def test_an_old_run_directory_reads_its_effects_from_the_catalogue(tmp_path: Path) -> None:
    """Lines written before ``affects`` existed: the catalogue says what the action did, with
    a network fault's link from its ``proxy`` parameter (default ``postgres``); an action
    the catalogue does not know has no effect (neither app nor Postgres)."""
    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "postgres.stop", 10.0, 22.0, old=True)
    b.fault(1, "app.kill", 12.0, 13.0, old=True)
    b.fault(2, "network.down", 30.0, 32.0, params={"proxy": "payments"}, old=True)
    b.fault(3, "network.latency", 34.0, 35.0, old=True)
    b.fault(4, "custom.thing", 40.0, 41.0, old=True)
    events = _events(b)
    lines = [json.loads(x) for x in (b.root / "timeline.jsonl").read_text().splitlines()]
    assert all("affects" not in x for x in lines if x["event"] in ("apply", "remove"))
    windows = fault_windows(events, 65.0)
    assert [w.effect for w in windows] == [
        FaultEffect("postgres", "restart"), FaultEffect("app", "restart"),
        FaultEffect("link", "remove", "payments"), FaultEffect("link", "remove", "postgres"),
        None]
    assert _app_fault_windows(events) == [(12.0, 13.0)]
    got = _startup(samples_of(_ready_samples((10, 23.5), 23.5)), events)
    assert got["value"] == 1.5 and got["starts"][1]["from"] == "postgres_ready"


@pytest.mark.parametrize("fields", [
    {"affects": "database", "undo": "remove"},
    {"affects": "app", "undo": "reboot"},
    {"affects": "link", "undo": "remove"},  # a link fault without its link
    {"affects": "app", "undo": "none", "link": "postgres"},  # only a link fault names one
])
def test_malformed_effect_fields_are_refused_naming_the_file(
    tmp_path: Path, fields: dict[str, Any]
) -> None:
    """A timeline line with a bad affects/undo/link is a VerifyError, not a silent guess."""
    b = RunDirBuilder(tmp_path).bounds()
    b.fault(0, "app.kill", 12.0, 13.0, old=True, **fields)
    with pytest.raises(VerifyError, match="timeline.jsonl"):
        RunFiles(b.write()).timeline()
