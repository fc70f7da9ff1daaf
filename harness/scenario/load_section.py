"""The ``[load]`` table: users, task mix or declared requests, load shape, think time and
write retries."""

from __future__ import annotations

from harness.brief import brief
from harness.errors import ScenarioError
from harness.scenario.durations import format_duration
from harness.scenario.fields import Table, did_you_mean_text, type_name
from harness.scenario.requests_section import parse_requests
from harness.scenario.schema import DEFAULT_MIX, SHAPES, TASKS, LoadSpec, frozen_map

__all__ = ["LOAD_KEYS", "MAX_WAIT_MS", "MAX_WEIGHT", "SHAPE_KEYS", "parse_load"]

#: The largest task weight (the same bound as a declared request's weight).
MAX_WEIGHT = 1_000_000
#: The longest think time between two requests of one user: an hour.
MAX_WAIT_MS = 3_600_000

#: Shape parameters and the one shape each belongs to.
SHAPE_KEYS: dict[str, str] = {
    "ramp_for": "ramp", "steps": "step", "step_users": "step", "step_every": "step",
    "spike_users": "spike", "spike_at": "spike", "spike_for": "spike",
}
LOAD_KEYS: tuple[str, ...] = (
    "users", "spawn_rate", "mix", "shape", *SHAPE_KEYS, "wait_ms", "workers",
    "expect_workers", "master_bind", "expect_workers_timeout",
    "request_timeout", "write_retries", "rooms", "request",
)


def parse_load(t: Table, duration: float) -> LoadSpec:
    """A :class:`LoadSpec` from the ``[load]`` table; shape params are checked against
    the shape and the scenario's ``duration``."""
    shape = t.str_("shape", "constant", SHAPES)
    for key, owner in SHAPE_KEYS.items():
        if t.has(key) and owner != shape:
            raise t.error(key, f'only used with shape = "{owner}" (shape is "{shape}")')
    users = t.int_("users", 20, 1, 100_000)
    requests = parse_requests(t)
    if requests and t.has("mix"):
        raise t.error("mix", "give either mix (the reference API's tasks) or [[load.request]] "
                      "(your own requests), not both")
    timeout = t.duration("request_timeout", 2.0)
    if timeout <= 0:
        raise t.error("request_timeout", "must be > 0")
    spec = LoadSpec(
        users=users,
        spawn_rate=t.float_("spawn_rate", 10.0, 0.01, 100_000.0),
        mix=_parse_mix(t),  # type: ignore[arg-type]
        shape=shape,
        ramp_for=t.duration("ramp_for", duration) if shape == "ramp" else 0.0,
        steps=t.int_("steps", 0, 1, 1000) if shape == "step" else 0,
        step_users=t.int_("step_users", 0, 1, 100_000) if shape == "step" else 0,
        step_every=t.duration("step_every", 0.0) if shape == "step" else 0.0,
        spike_users=t.int_("spike_users", 0, 1, 100_000) if shape == "spike" else 0,
        spike_at=t.duration("spike_at", 0.0) if shape == "spike" else 0.0,
        spike_for=t.duration("spike_for", 0.0) if shape == "spike" else 0.0,
        wait_ms=_parse_wait(t),
        workers=t.int_("workers", 0, 0, 256),
        expect_workers=t.int_("expect_workers", 0, 0, 256),
        master_bind=_parse_bind(t),
        expect_workers_timeout=t.duration("expect_workers_timeout", 60.0),
        request_timeout=timeout,
        write_retries=t.int_("write_retries", 3, 0, 20),
        rooms=t.int_("rooms", 10, 1, 100_000),
        requests=requests,
    )
    _check_shape(t, spec, duration)
    if spec.expect_workers and spec.workers:
        raise t.error("expect_workers", "give workers (local processes) or expect_workers "
                      "(workers on other hosts), not both")
    if spec.expect_workers and spec.expect_workers_timeout <= 0:
        raise t.error("expect_workers_timeout", "must be > 0")
    return spec


def _parse_bind(t: Table) -> str:
    """``master_bind = "HOST:PORT"``: an IP address of this host, port 0 for a free one."""
    text = t.str_("master_bind", "127.0.0.1:0")
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise t.error("master_bind", f'expected "HOST:PORT" (port 0: a free one), got {text!r}')
    return text


def _parse_mix(t: Table) -> object:
    if not t.has("mix"):
        return DEFAULT_MIX
    raw = t.data["mix"]
    if not isinstance(raw, dict):
        raise t.error("mix", f"expected a table of task = weight, got {type_name(raw)}")
    mix = dict.fromkeys(TASKS, 0)
    for task, weight in raw.items():
        key = f"{t.key('mix')}.{task}"
        if task not in TASKS:
            raise ScenarioError(t.file, key, "unknown task" + did_you_mean_text(task, TASKS)
                                + f"; expected one of: {', '.join(TASKS)}")
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
            raise ScenarioError(t.file, key, f"expected an integer weight in [0, {MAX_WEIGHT}], "
                                f"got {type_name(weight)} {brief(weight)}")
        mix[task] = weight
    if sum(mix.values()) == 0:
        raise t.error("mix", "at least one task needs a weight > 0")
    return frozen_map(mix)


def _parse_wait(t: Table) -> tuple[int, int]:
    raw = t.data.get("wait_ms", [50, 200])
    ok = (isinstance(raw, list) and len(raw) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_WAIT_MS
                  for v in raw))
    if not ok or raw[0] > raw[1]:
        raise t.error("wait_ms", f"expected [min, max] milliseconds with 0 <= min <= max <= "
                      f"{MAX_WAIT_MS} (an hour), got {brief(raw)}")
    return int(raw[0]), int(raw[1])


def _check_shape(t: Table, spec: LoadSpec, duration: float) -> None:
    limit = f"the duration ({format_duration(duration)})"
    if spec.shape == "ramp" and not 0 < spec.ramp_for <= duration:
        raise t.error("ramp_for", f"must be > 0 and <= {limit}, got "
                      f"{format_duration(spec.ramp_for)}")
    if spec.shape == "step":
        for key in ("steps", "step_users", "step_every"):
            if not t.has(key):
                raise t.error(key, 'required when shape = "step"')
        if spec.step_every <= 0:
            raise t.error("step_every", "must be > 0")
        if spec.steps * spec.step_every > duration:
            total = format_duration(spec.steps * spec.step_every)
            raise t.error("steps", f"steps * step_every ({total}) must be <= {limit}: "
                          "the last step would never run")
    if spec.shape == "spike":
        for key in ("spike_users", "spike_at", "spike_for"):
            if not t.has(key):
                raise t.error(key, 'required when shape = "spike"')
        if spec.spike_for <= 0:
            raise t.error("spike_for", "must be > 0")
        end = spec.spike_at + spec.spike_for
        if end > duration:
            raise t.error("spike_for", f"spike_at + spike_for ({format_duration(end)}) must be "
                          f"<= {limit}")
