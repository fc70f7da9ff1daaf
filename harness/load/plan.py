"""How many users a load shape asks for at a given second (pure, no locust import).

:mod:`harness.load.shapes` wraps this in a Locust ``LoadTestShape``; keeping the
arithmetic here lets it be unit-tested and plotted without gevent.
"""

from __future__ import annotations

import math

from harness.load.config import LoadRunConfig

__all__ = ["users_at"]


def users_at(config: LoadRunConfig, t_s: float) -> int | None:
    """Users wanted ``t_s`` seconds into the load, or None once the run time is over.

    - constant: ``users`` throughout;
    - ramp: linear from 1 to ``users`` over ``ramp_for_s``, then ``users``;
    - step: ``users``, plus ``step_users`` every ``step_every_s``, ``steps`` times;
    - spike: ``users``, but ``spike_users`` within ``[spike_at_s, spike_at_s + spike_for_s)``.
    """
    if t_s < 0 or t_s >= config.run_time_s:
        return None
    base = config.users
    if config.shape == "ramp":
        span = config.ramp_for_s or config.run_time_s
        return max(1, min(base, math.ceil(base * t_s / span)))
    if config.shape == "step":
        done = min(config.steps, int(t_s // config.step_every_s)) if config.step_every_s else 0
        return base + done * config.step_users
    if config.shape == "spike":
        in_spike = config.spike_at_s <= t_s < config.spike_at_s + config.spike_for_s
        return config.spike_users if in_spike else base
    return base
