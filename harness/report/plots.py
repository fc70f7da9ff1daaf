"""The report's plots: PNG files drawn with matplotlib's Agg canvas.

Figures are built with ``matplotlib.figure.Figure`` and an explicit
``FigureCanvasAgg``, never through ``pyplot``, so rendering touches no global
state, needs no display and leaks no figures. Every time plot shades and labels
the fault windows. A plot function returns the PNG's path, or ``None`` when the
run has no data for it (the report then says so instead of showing an empty frame).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.report.series import RequestSeries, SampleSeries
from harness.verify.windows import FaultWindow

__all__ = [
    "PLOT_TITLES",
    "Plot",
    "diff_totals",
    "plot_latency",
    "plot_memory",
    "plot_pg_connections",
    "plot_pool_breaker",
    "plot_throughput_errors",
    "render_plots",
]

#: File stem -> title, in report order.
PLOT_TITLES: dict[str, str] = {
    "throughput_errors": "Throughput and error rate",
    "latency": "Latency percentiles",
    "memory": "Memory: RSS and tracemalloc",
    "pool_breaker": "Connection pool and circuit breaker",
    "pg_connections": "Postgres connections by state",
}
_WIDTH_IN = 10.0
_DPI = 96
_FAULT_COLOURS = ("#d62728", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_BREAKER_LEVEL = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


@dataclass(frozen=True)
class Plot:
    """One rendered plot: where it is and what it shows."""

    stem: str
    title: str
    path: Path | None
    note: str = ""


def _figure(rows: int = 1, height: float = 3.4) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(_WIDTH_IN, height * rows), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]
    if rows > 1:
        for ax in axes[1:]:
            ax.sharex(axes[0])
    return fig, axes


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def shade_faults(ax: Axes, windows: Sequence[FaultWindow], end_s: float | None,
                 label: bool = True) -> None:
    """Shade every fault window on ``ax`` and write its label at the top."""
    for i, win in enumerate(windows):
        colour = _FAULT_COLOURS[win.fault % len(_FAULT_COLOURS)] if win.fault >= 0 else "grey"
        start = win.applied_s
        end = win.removed_s if win.removed_s is not None else (end_s or start + 1.0)
        end = max(end, start + 0.3)  # an instant fault stays visible
        ax.axvspan(start, end, color=colour, alpha=0.15, lw=0)
        ax.axvline(start, color=colour, lw=0.8, alpha=0.7)
        if label:
            y = 0.97 - 0.09 * (i % 4)
            ax.text(start, y, f" {win.label}", transform=ax.get_xaxis_transform(),
                    fontsize=7.5, color=colour, va="top", ha="left", clip_on=True)


def _finish_axes(ax: Axes, ylabel: str, legend: bool = True) -> None:
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        # outside the frame: never hides data or fault labels, and needs no "best" search
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)


def plot_throughput_errors(req: RequestSeries, windows: Sequence[FaultWindow],
                           end_s: float | None, path: Path) -> Path | None:
    """Requests/s and error rate (%) per second, fault windows shaded and labelled."""
    if not req.t_s:
        return None
    fig, (ax, ax_err) = _figure(2, 2.6)
    ax.plot(req.t_s, req.requests, color="#1f77b4", lw=1.2, label="requests/s")
    shade_faults(ax, windows, end_s)
    _finish_axes(ax, "requests/s")
    ax.set_title(PLOT_TITLES["throughput_errors"])
    ax_err.plot(req.t_s, req.error_rate, color="#d62728", lw=1.2, label="error rate %")
    shade_faults(ax_err, windows, end_s, label=False)
    ax_err.set_ylim(bottom=0)
    _finish_axes(ax_err, "errors %")
    ax_err.set_xlabel("t (s since run start)")
    return _save(fig, path)


def plot_latency(req: RequestSeries, windows: Sequence[FaultWindow],
                 end_s: float | None, path: Path) -> Path | None:
    """p50 / p95 / p99 latency per second on a log axis, fault windows shaded."""
    if not req.t_s or not any(n for n in req.requests):
        return None
    fig, (ax,) = _figure(1, 3.4)
    for values, name, colour in ((req.p50_ms, "p50", "#2ca02c"), (req.p95_ms, "p95", "#ff7f0e"),
                                 (req.p99_ms, "p99", "#d62728")):
        ax.plot(req.t_s, values, lw=1.1, color=colour, label=name)
    if any(v > 0 for v in req.p99_ms if not math.isnan(v)):
        ax.set_yscale("log")
    shade_faults(ax, windows, end_s)
    _finish_axes(ax, "latency ms")
    ax.set_title(PLOT_TITLES["latency"])
    ax.set_xlabel("t (s since run start)")
    return _save(fig, path)


def _fit_line(t: Sequence[float], y: Sequence[float], slope_per_s: float,
              after_s: float, until_s: float = math.inf) -> tuple[float, float] | None:
    """Anchor a known slope at the median of ``y - slope * t`` (Theil-Sen's intercept)."""
    pts = [(a, b) for a, b in zip(t, y, strict=True)
           if after_s <= a <= until_s and not math.isnan(b)]
    if len(pts) < 2:
        return None
    resid = sorted(b - slope_per_s * a for a, b in pts)
    return pts[0][0], resid[len(resid) // 2]


def diff_totals(diffs: Sequence[dict[str, object]]) -> list[tuple[float, float]]:
    """``(t_s, traced MB)`` from the tracemalloc diff files (``total_bytes``)."""
    points = []
    for diff in diffs:
        t, total = diff.get("t_s"), diff.get("total_bytes")
        if isinstance(t, int | float) and isinstance(total, int | float):
            points.append((float(t), float(total) / (1024.0 * 1024.0)))
    return sorted(points)


def plot_memory(samples: SampleSeries, memory: dict[str, object], warmup_s: float,
                windows: Sequence[FaultWindow], end_s: float | None,
                path: Path, diffs: Sequence[dict[str, object]] = ()) -> Path | None:
    """App RSS and tracemalloc total (MB) with the fitted slope and its 95 % interval.

    The traced total comes from the samples when the app traces every tick, else from
    the memory/diff-*.json snapshots (one marker per snapshot).
    """
    snapshots = diff_totals(diffs)
    if not (samples.has(samples.rss_mb) or samples.has(samples.tracemalloc_mb) or snapshots):
        return None
    fig, (ax,) = _figure(1, 3.6)
    ax.plot(samples.t_s, samples.rss_mb, color="#1f77b4", lw=1.2, label="app RSS MB")
    if samples.has(samples.tracemalloc_mb):
        ax.plot(samples.t_s, samples.tracemalloc_mb, color="#9467bd", lw=1.2,
                label="tracemalloc MB")
    elif snapshots:
        ax.plot([t for t, _ in snapshots], [v for _, v in snapshots], color="#9467bd", lw=1.0,
                marker="o", ms=3, label="tracemalloc MB (snapshots)")
    slope = memory.get("slope_mb_per_hour")
    # fitted within each process lifetime (verify.lifetimes): one segment per lifetime
    listed = memory.get("lifetimes")
    lives = [(float(lt["start_s"]), float(lt["end_s"]))
             for lt in (listed if isinstance(listed, list) else [])
             if isinstance(lt, dict) and isinstance(lt.get("start_s"), int | float)
             and isinstance(lt.get("end_s"), int | float)] or [(warmup_s, math.inf)]
    if isinstance(slope, int | float):
        for i, (lo, hi) in enumerate(lives):
            _draw_slope(ax, samples, float(slope), memory.get("ci95"), lo,
                        bool(memory.get("leak")), hi, label=i == 0)
    shade_faults(ax, windows, end_s)
    _finish_axes(ax, "MB")
    ax.set_title(PLOT_TITLES["memory"])
    ax.set_xlabel("t (s since run start)")
    return _save(fig, path)


def _draw_slope(ax: Axes, samples: SampleSeries, slope_h: float, ci: Any, from_s: float,
                leak: bool, until_s: float = math.inf, label: bool = True) -> None:
    anchor = _fit_line(samples.t_s, samples.rss_mb, slope_h / 3600.0, from_s, until_s)
    if anchor is None:
        return
    t0, b = anchor
    t1 = min(samples.t_s[-1], until_s)
    ts = [t0, t1]
    text = f"RSS slope {slope_h:+.2f} MB/h"
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(isinstance(c, int | float) for c in ci):
        lo, hi = float(ci[0]), float(ci[1])
        text += f"\n(95% CI {lo:+.2f} .. {hi:+.2f})"
        mid_t = (t0 + t1) / 2.0
        mid_y = b + slope_h / 3600.0 * mid_t
        ax.fill_between(ts, [mid_y + lo / 3600.0 * (t - mid_t) for t in ts],
                        [mid_y + hi / 3600.0 * (t - mid_t) for t in ts],
                        color="#d62728" if leak else "#2ca02c", alpha=0.15, lw=0)
    if leak:
        text += ": LEAK"
    ax.plot(ts, [b + slope_h / 3600.0 * t for t in ts], ls="--", lw=1.4,
            color="#d62728" if leak else "#2ca02c", label=text if label else None)


def plot_pool_breaker(samples: SampleSeries, windows: Sequence[FaultWindow],
                      end_s: float | None, path: Path) -> Path | None:
    """Pool connections in use / waiting (and max), breaker state below it."""
    has_pool = samples.has(samples.pool_in_use) or samples.has(samples.pool_waiting)
    has_breaker = any(b is not None for b in samples.breaker)
    if not (has_pool or has_breaker):
        return None
    fig, (ax, ax_b) = _figure(2, 2.4)
    ax.plot(samples.t_s, samples.pool_in_use, color="#1f77b4", lw=1.2, label="in use")
    ax.plot(samples.t_s, samples.pool_waiting, color="#d62728", lw=1.2, label="waiting")
    if samples.has(samples.pool_max):
        ax.plot(samples.t_s, samples.pool_max, color="grey", lw=0.8, ls=":", label="max")
    shade_faults(ax, windows, end_s)
    _finish_axes(ax, "connections")
    ax.set_title(PLOT_TITLES["pool_breaker"])
    levels = [_BREAKER_LEVEL.get(b, math.nan) if b else math.nan for b in samples.breaker]
    ax_b.step(samples.t_s, levels, where="post", color="#ff7f0e", lw=1.5, label="breaker")
    ax_b.set_yticks([0, 1, 2], ["closed", "half_open", "open"])
    ax_b.set_ylim(-0.4, 2.4)
    shade_faults(ax_b, windows, end_s, label=False)
    _finish_axes(ax_b, "breaker", legend=False)
    ax_b.set_xlabel("t (s since run start)")
    return _save(fig, path)


def plot_pg_connections(samples: SampleSeries, windows: Sequence[FaultWindow],
                        end_s: float | None, path: Path) -> Path | None:
    """Postgres backends by ``pg_stat_activity`` state, stacked."""
    if not samples.pg_states or not any(samples.has(v) for v in samples.pg_states.values()):
        return None
    fig, (ax,) = _figure(1, 3.2)
    names = list(samples.pg_states)
    values = [[0.0 if math.isnan(v) else v for v in samples.pg_states[s]] for s in names]
    ax.stackplot(samples.t_s, values, labels=names, alpha=0.8, step="post")
    shade_faults(ax, windows, end_s)
    _finish_axes(ax, "connections")
    ax.set_title(PLOT_TITLES["pg_connections"])
    ax.set_xlabel("t (s since run start)")
    return _save(fig, path)


def render_plots(plots_dir: Path, req: RequestSeries | None, samples: SampleSeries | None,
                 windows: Sequence[FaultWindow], end_s: float | None,
                 memory: dict[str, object], warmup_s: float,
                 diffs: Sequence[dict[str, object]] = ()) -> list[Plot]:
    """Draw every plot the data allows into ``plots_dir``; one :class:`Plot` per title."""
    out: list[Plot] = []

    def add(stem: str, path: Path | None, why: str) -> None:
        out.append(Plot(stem, PLOT_TITLES[stem], path, "" if path else why))

    no_req = "no requests.csv rows"
    no_samples = "no samples.jsonl ticks with these fields"
    png = {stem: plots_dir / f"{stem}.png" for stem in PLOT_TITLES}
    add("throughput_errors",
        plot_throughput_errors(req, windows, end_s, png["throughput_errors"]) if req else None,
        no_req)
    add("latency", plot_latency(req, windows, end_s, png["latency"]) if req else None, no_req)
    add("memory", plot_memory(samples or SampleSeries(), memory, warmup_s, windows, end_s,
                              png["memory"], diffs), no_samples)
    add("pool_breaker", plot_pool_breaker(samples, windows, end_s, png["pool_breaker"])
        if samples else None, no_samples)
    add("pg_connections", plot_pg_connections(samples, windows, end_s, png["pg_connections"])
        if samples else None, no_samples)
    return out
