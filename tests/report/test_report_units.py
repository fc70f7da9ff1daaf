"""Pure logic of the report: secret scrubbing, the per-second series, value formatting,
fault-window pairing and shading. No files but small temporary ones."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.records import ResultRecord, TimelineEvent
from harness.report.plots import diff_totals, plot_memory, shade_faults
from harness.report.rundata import timeline_windows
from harness.report.scrub import MASK, Scrubber
from harness.report.series import SampleSeries, request_series, sample_series
from harness.report.tables import fmt_value, memory_words, slo_outcome


def test_scrubber_masks_every_secret_form() -> None:
    """DSN passwords, bearer tokens, flags, env pairs, JSON pairs and remembered values are
    masked; ordinary prose with the word token and password-less DSNs are untouched."""
    scrub = Scrubber(["literal-secret-value"], from_environ=False)
    cases = {
        "postgresql://app:hunter22@127.0.0.1:5432/db": "postgresql://app:***@127.0.0.1:5432/db",
        "Authorization: Bearer abc.def": "Authorization: Bearer ***",
        "--admin-token xyz123 next": "--admin-token *** next",
        "--password=pw1 rest": "--password=*** rest",
        "ADMIN_TOKEN=qq1234": "ADMIN_TOKEN=***",
        '{"admin_token": "zz9999"}': '{"admin_token": "***"}',
        "x literal-secret-value y": f"x {MASK} y",
        "the admin token never appears": "the admin token never appears",
        "postgresql://postgres@127.0.0.1:5/postgres": "postgresql://postgres@127.0.0.1:5/postgres",
    }
    for raw, want in cases.items():
        assert scrub.text(raw) == want, raw


def test_scrubber_obj_masks_keys_and_remembers_values() -> None:
    """A value under a secret key is masked and then masked wherever else it appears."""
    scrub = Scrubber(from_environ=False)
    out = scrub.obj({"app": {"admin_token": "s3cr3t-tok"}, "cmd": "run --x s3cr3t-tok"})
    assert out["app"]["admin_token"] == MASK
    assert scrub.text("later: s3cr3t-tok") == f"later: {MASK}"


def test_scrubber_masks_secret_env_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values of secret-named environment variables (PGPASSWORD) are masked literally."""
    monkeypatch.setenv("H7_TEST_PASSWORD", "env-pass-123456")
    assert Scrubber().text("x env-pass-123456") == f"x {MASK}"


def test_request_series_exact_percentiles_and_errors(tmp_path: Path) -> None:
    """Per-second buckets hold exact percentiles (numpy on the same values), counts and
    error counts; a second with no request is an empty bucket, not a missing one."""
    rng = np.random.default_rng(7)
    lat0 = rng.exponential(20.0, 500)
    lat2 = rng.exponential(5.0, 300)
    lines = ["t_s,name,status,ok,latency_ms,error,write_key,ack,attempt"]
    lines += [f"{0.001 * i:.6f},read,200,1,{v:.6f},,,,1" for i, v in enumerate(lat0)]
    lines += [f"{2 + 0.001 * i:.6f},read,503,0,{v:.6f},http_503,,,1" if i % 3 == 0
              else f"{2 + 0.001 * i:.6f},read,200,1,{v:.6f},,,,1" for i, v in enumerate(lat2)]
    path = tmp_path / "requests.csv"
    path.write_text("\n".join(lines) + "\n")
    series = request_series(path)
    assert series.t_s == [0.0, 1.0, 2.0]
    assert series.requests == [500, 0, 300]
    assert series.errors == [0, 0, 100]
    assert series.error_classes == {"http_503": 100}
    parsed0 = np.array([float(f"{v:.6f}") for v in lat0])
    assert series.p99_ms[0] == np.percentile(parsed0, 99)
    assert math.isnan(series.p50_ms[1])
    assert series.error_rate[2] == 100 * 100 / 300


def test_sample_series_keeps_last_tick_per_second(tmp_path: Path) -> None:
    """Two ticks in one second keep the later; missing sampler fields are NaN, not 0."""
    path = tmp_path / "samples.jsonl"
    path.write_text(
        '{"t_s": 0.1, "app_proc": {"rss_bytes": 1048576}, "pool": {"in_use": 1}}\n'
        '{"t_s": 0.9, "app_proc": {"rss_bytes": 2097152}, "pool": {"in_use": 2},'
        ' "pg_connections": {"by_state": {"active": 3}}}\n'
        '{"t_s": 1.5, "app_proc": null, "pool": null, "breaker": "open"}\n')
    series = sample_series(path)
    assert series.ticks == 3 and series.t_s == [0.9, 1.5]
    assert series.rss_mb[0] == 2.0 and math.isnan(series.rss_mb[1])
    assert series.pool_in_use[0] == 2.0 and series.breaker == [None, "open"]
    assert series.pg_states["active"][0] == 3.0 and math.isnan(series.pg_states["active"][1])


def test_fault_windows_pair_repeats_and_unremoved() -> None:
    """apply/remove pair by (fault, repeat); a fault never removed has no removal (the plots
    and tables draw it to the run's end)."""
    timeline = [
        {"event": "apply", "fault": 0, "repeat": 0, "action": "postgres.stop", "t_s": 10.0},
        {"event": "remove", "fault": 0, "repeat": 0, "action": "postgres.stop", "t_s": 12.0},
        {"event": "apply", "fault": 0, "repeat": 1, "action": "postgres.stop", "t_s": 20.0},
        {"event": "apply", "fault": 1, "action": "app.kill", "t_s": 21.0, "ok": False,
         "error": "no pid"},
        {"event": "remove", "fault": 0, "repeat": 1, "action": "postgres.stop", "t_s": 22.5},
    ]
    wins = timeline_windows([TimelineEvent.from_json(e) for e in timeline])
    assert [(w.fault, w.repeat, w.applied_s, w.removed_s) for w in wins] == [
        (0, 0, 10.0, 12.0), (0, 1, 20.0, 22.5), (1, None, 21.0, None)]
    assert wins[1].label == "#0.1 postgres.stop"
    assert wins[2].label == "#1 app.kill (failed)" and not wins[2].ok


def test_shade_faults_draws_one_span_and_label_per_window() -> None:
    """Each window becomes one shaded span and one text label on the axes."""
    wins = timeline_windows([TimelineEvent.from_json(e) for e in (
        {"event": "apply", "fault": 0, "action": "a.one", "t_s": 1.0},
        {"event": "remove", "fault": 0, "action": "a.one", "t_s": 2.0},
        {"event": "apply", "fault": 1, "action": "b.two", "t_s": 5.0},
    )])
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    shade_faults(ax, wins, 9.0)
    assert len(ax.patches) == 2
    assert [t.get_text().strip() for t in ax.texts] == ["#0 a.one", "#1 b.two"]


def test_fmt_value_and_outcomes() -> None:
    """Fractions print as percent with units elsewhere; expected failures invert."""
    assert fmt_value("availability", 0.9995) == "99.950%"
    assert fmt_value("p99_latency_ms", 12.3456) == "12.3 ms"
    assert fmt_value("lost_writes", None) == "not measured"
    slo = {"name": "lost_writes", "phase": "run", "verdict": "fail"}
    assert slo_outcome(slo, set()) == ("fail", "fail")
    assert slo_outcome(slo, {"lost_writes@run"})[0] == "pass"
    assert slo_outcome({**slo, "verdict": "pass"}, {"lost_writes@run"})[0] == "fail"
    assert slo_outcome({**slo, "verdict": "unknown", "value": None}, set()) == (
        "unknown", "not measured")
    why = {"reason": "42 s of samples is too short to tell a leak from warm-up"}
    assert slo_outcome({**slo, "verdict": "unknown", "value": 449.0, "evidence": why},
                       set()) == ("unknown", f"unknown: {why['reason']}")


def test_memory_plot_from_snapshots_alone(tmp_path: Path) -> None:
    """Without samples, the tracemalloc totals of the diff files still make a memory plot."""
    diffs = [{"t_s": 10.0, "total_bytes": 2 * 1024 * 1024}, {"t_s": 5.0, "total_bytes": 1048576},
             {"t_s": None, "total_bytes": 1}]
    assert diff_totals(diffs) == [(5.0, 1.0), (10.0, 2.0)]
    path = plot_memory(SampleSeries(), {}, 0.0, [], None, tmp_path / "m.png", diffs)
    assert path is not None and path.read_bytes()[:4] == b"\x89PNG"
    assert plot_memory(SampleSeries(), {}, 0.0, [], None, tmp_path / "n.png", []) is None


def test_public_surface_resolves() -> None:
    """Every name in harness.report.__all__ resolves to a callable (lazily imported)."""
    import harness.report as report

    for name in report.__all__:
        assert callable(getattr(report, name)), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = report.nope  # type: ignore[attr-defined]


def test_memory_words_say_when_unjudged() -> None:
    """A leak flagged by verify reads as such, with a note when no SLO of the scenario
    judges memory (so a short run's noisy slope is not mistaken for a failed verdict)."""
    leak = {"memory": {"leak": True}, "slos": []}
    assert memory_words(ResultRecord.from_json(leak)) == "LEAK (no SLO of this scenario judges it)"
    judged = {**leak, "slos": [{"name": "memory_growth_mb_per_hour", "phase": "run"}]}
    assert memory_words(ResultRecord.from_json(judged)) == "LEAK"
    assert memory_words(ResultRecord.from_json({"memory": {"leak": None}})) == "unknown"
    assert memory_words(None) == "unknown"


_SECRET_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+/="


@settings(max_examples=200, deadline=None)
@given(secret=st.text(alphabet=_SECRET_CHARS, min_size=6, max_size=40))
def test_no_secret_form_survives_scrubbing(secret: str) -> None:
    """Property: whatever the password or token, none of the forms a run directory may carry
    it in (DSN, bearer header, JSON pair, flag, env pair) lets it through."""
    scrub = Scrubber(from_environ=False)
    forms = [f"postgresql://app:{secret}@127.0.0.1:5432/app",
             f"Authorization: Bearer {secret}",
             f'{{"admin_token": "{secret}"}}',
             f"--admin-token {secret} --users 5",
             f"PGPASSWORD={secret}"]
    for form in forms:
        redacted = scrub.text(form)
        assume(secret not in form.replace(secret, ""))  # the secret is not ordinary text here
        assert secret not in redacted, (form, redacted)
