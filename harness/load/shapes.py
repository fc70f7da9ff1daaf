"""Locust load shapes (ramp, step, spike) built from the load config.

Runs only inside Locust's process. The locustfile binds exactly one shape class to a
module name when the scenario's shape is not constant (Locust picks up every shape
class in the locustfile's namespace, so only the chosen one may be there).
"""

from __future__ import annotations

from locust import LoadTestShape

from harness.load.config import LoadRunConfig
from harness.load.plan import users_at

__all__ = ["shape_class"]


def shape_class(config: LoadRunConfig) -> type[LoadTestShape]:
    """A LoadTestShape subclass that follows :func:`~harness.load.plan.users_at`."""
    spawn_rate = config.spawn_rate
    if config.shape == "spike":  # a spike is sudden: spawn it within a second
        spawn_rate = max(spawn_rate, float(config.spike_users))

    class ConfiguredShape(LoadTestShape):
        """The scenario's shape; stops the test when the run time is over."""

        use_common_options = True  # -u/-r/-t are passed too; they are not a conflict here

        def tick(self) -> tuple[int, float] | None:
            users = users_at(config, self.get_run_time())
            return None if users is None else (users, spawn_rate)

    ConfiguredShape.__name__ = ConfiguredShape.__qualname__ = f"{config.shape.title()}Shape"
    return ConfiguredShape
