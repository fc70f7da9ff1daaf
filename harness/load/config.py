"""The load configuration the conductor hands to Locust, as a JSON file.

The conductor builds a :class:`LoadRunConfig` (usually :meth:`LoadRunConfig.from_scenario`),
writes it with :meth:`~LoadRunConfig.write` and names the file in the environment
variable ``CHAOSHARNESS_LOAD_CONFIG`` or with ``--chaosharness-config PATH``; the
locustfile reads it back with :meth:`~LoadRunConfig.read`. No locust import here.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.load.declared import RequestSpec
from harness.load.reference_requests import reference_requests
from harness.records.requests import REQUEST_COLUMNS

if TYPE_CHECKING:
    from harness.scenario.schema import Scenario

__all__ = ["CONFIG_ARG", "CONFIG_ENV", "REQUEST_COLUMNS", "REQUEST_FILE_GLOB", "LoadRunConfig"]

CONFIG_ENV = "CHAOSHARNESS_LOAD_CONFIG"
CONFIG_ARG = "--chaosharness-config"
#: The recorder writes one file per Locust process: ``requests-<pid>.csv``.
REQUEST_FILE_GLOB = "requests-*.csv"


@dataclass(frozen=True)
class LoadRunConfig:
    """Everything the Locust process needs: task mix, shape, timing, where to record.

    Times are seconds (``*_s``) except ``wait_ms``. ``t0_monotonic`` is the run's zero
    on the shared CLOCK_MONOTONIC, so recorded ``t_s`` agree with the conductor's.
    """

    mix: dict[str, int]
    requests_dir: str
    t0_monotonic: float
    run_time_s: float
    seed: int = 0
    users: int = 20
    spawn_rate: float = 10.0
    shape: str = "constant"
    ramp_for_s: float = 0.0
    steps: int = 0
    step_users: int = 0
    step_every_s: float = 0.0
    spike_users: int = 0
    spike_at_s: float = 0.0
    spike_for_s: float = 0.0
    wait_ms: tuple[int, int] = (50, 200)
    request_timeout_s: float = 2.0
    write_retries: int = 3
    rooms: int = 10
    #: Declared requests (:meth:`RequestSpec.to_dict` form); empty: the reference task mix.
    requests: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        problems = []
        if self.requests:
            if not any(r.get("weight", 0) > 0 for r in self.requests):
                problems.append("requests need one with a weight > 0")
        elif not self.mix or any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
            problems.append(f"mix needs non-negative weights, one > 0: {self.mix}")
        if self.shape not in ("constant", "ramp", "step", "spike"):
            problems.append(f"shape {self.shape!r} is not constant, ramp, step or spike")
        for name in ("run_time_s", "request_timeout_s", "spawn_rate"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                problems.append(f"{name} must be > 0, got {value!r}")
        if self.users < 1 or self.rooms < 1 or self.write_retries < 0:
            problems.append("users and rooms must be >= 1, write_retries >= 0")
        if len(self.wait_ms) != 2 or not 0 <= self.wait_ms[0] <= self.wait_ms[1]:
            problems.append(f"wait_ms must be [min, max] with 0 <= min <= max: {self.wait_ms}")
        if problems:
            raise ValueError("invalid load config: " + "; ".join(problems))

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, *, requests_dir: Path | str, t0_monotonic: float,
        run_time_s: float | None = None,
    ) -> LoadRunConfig:
        """The config for ``scenario``'s ``[load]`` table; ``run_time_s`` defaults to its
        duration (the conductor passes its own when load runs longer, e.g. over warm-up)."""
        load = scenario.load
        return cls(
            mix=dict(load.mix), requests_dir=str(requests_dir), t0_monotonic=t0_monotonic,
            run_time_s=run_time_s if run_time_s is not None else scenario.duration,
            seed=scenario.seed, users=load.users, spawn_rate=load.spawn_rate,
            shape=load.shape, ramp_for_s=load.ramp_for, steps=load.steps,
            step_users=load.step_users, step_every_s=load.step_every,
            spike_users=load.spike_users, spike_at_s=load.spike_at, spike_for_s=load.spike_for,
            wait_ms=load.wait_ms, request_timeout_s=load.request_timeout,
            write_retries=load.write_retries, rooms=load.rooms,
            requests=tuple(r.to_dict() for r in load.requests),
        )

    def declared_requests(self) -> tuple[RequestSpec, ...]:
        """The requests the load sends: the declared ones, else the reference API's ``mix``
        as declared requests (one engine runs both)."""
        if self.requests:
            return tuple(RequestSpec.from_dict(r) for r in self.requests)
        return reference_requests(self.mix, self.rooms)

    def to_json(self) -> str:
        """The config as a JSON object (field names as keys)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LoadRunConfig:
        """Read :meth:`to_json` output back; unknown or missing fields raise ValueError."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("load config must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"load config has unknown fields: {', '.join(unknown)}")
        if "wait_ms" in data:
            data["wait_ms"] = tuple(data["wait_ms"])
        if "requests" in data:
            data["requests"] = tuple(data["requests"])
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"load config: {exc}") from None

    def write(self, path: Path) -> Path:
        """Write the JSON to ``path`` and return it."""
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path | str) -> LoadRunConfig:
        """The config in the JSON file ``path``."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
