"""The fault catalogue: every fault action a scenario may name, with its parameters.

One registry, no implementations: the scenario loader validates ``[[fault]]`` entries
against it, ``chaosharness list`` and the docs iterate it, and the conductor maps each
name to a function in ``harness.faults.actions``. A new fault is one entry here plus
one function there. The attributes of the ``network.<toxic>`` faults are not written
here: they are read from the proxy's toxic catalogue (``harness.toxiproxy.toxics``), so
the two cannot drift apart.

``window`` says how an entry uses the scenario's ``for``:

- ``"required"``: the fault lasts ``for`` and is then removed (latency, freeze, ...);
- ``"optional"``: without ``for`` it stays until the end-of-run rollback;
- ``"forbidden"``: an instant action (restart, kill + restart, raise); its effect ends by itself.

Each entry also says what it does, for verify: ``affects`` is what it acts on (``"app"``,
``"postgres"``: the server, as a process or through SQL, or ``"link"``: the proxy its
``proxy`` parameter names, ``"postgres"`` or a ``[[dependency]]``), and ``undo`` how its
effect ends (``"remove"``: the harness takes it away, the target kept running;
``"restart"``: the target process is started again; ``"none"``: it ends by itself).
The timeline writes both on every apply/remove line (:func:`effect_of`), so verify reads
what a fault did from the run directory, never from the action's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from harness.records.timeline import (
    AFFECTS,
    POSTGRES_LINK,
    UNDOS,
    Affects,
    FaultEffect,
    Undo,
)
from harness.toxiproxy.toxics import (
    ABSENT,
    DEFAULT_STREAM,
    DEFAULT_TOXICITY,
    STREAMS,
    TOXIC_TYPES,
    ToxicAttribute,
)

__all__ = [
    "AFFECTS", "FAULTS", "POSTGRES_LINK", "TOXIC_FIELDS", "UNDOS", "Affects", "FaultEffect",
    "FaultSpec", "ParamSpec", "ParamType", "Requirement", "Undo", "Window", "effect_of",
]

ParamType = Literal["int", "float", "str", "bool", "duration"]
Window = Literal["required", "optional", "forbidden"]
#: What a fault acts on, so a scenario whose target lacks it is rejected at load time.
Requirement = Literal["proxy", "postgres_process", "postgres_sql", "app_process", "app_hooks"]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a fault: its type, default, and the values it accepts.

    ``duration`` parameters are written like scenario durations and resolve to float
    seconds. ``min``/``max`` bound numbers; ``choices`` bounds strings.
    """

    type: ParamType
    description: str
    default: object = None
    required: bool = False
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class FaultSpec:
    """A fault action: ``name`` as scenarios write it, what it does, its parameters, what it
    acts on (``affects``) and how its effect ends (``undo``)."""

    name: str
    description: str
    params: dict[str, ParamSpec] = field(default_factory=dict)
    window: Window = "optional"
    requires: Requirement = "proxy"
    affects: Affects = field(kw_only=True)
    undo: Undo = field(kw_only=True)

    def effect(self, params: Mapping[str, object]) -> FaultEffect:
        """What this fault does with these parameters: a link fault names its proxy."""
        if self.affects != "link":
            return FaultEffect(self.affects, self.undo)
        return FaultEffect("link", self.undo, str(params.get("proxy") or POSTGRES_LINK))

    @property
    def needs_window(self) -> bool:
        """The entry must have ``for``."""
        return self.window == "required"

    @property
    def instant(self) -> bool:
        """The entry must not have ``for``: its effect ends by itself."""
        return self.window == "forbidden"


def _p(type_: ParamType, description: str, default: object = None, **kw: object) -> ParamSpec:
    return ParamSpec(type=type_, description=description, default=default, **kw)  # type: ignore[arg-type]


_PROXY = _p("str", "name of the proxy the toxic goes on", "postgres")
_STREAM = _p("str", "which direction it affects", DEFAULT_STREAM, choices=STREAMS)
_TOXICITY = _p("float", "probability the toxic applies to a connection", DEFAULT_TOXICITY,
               min=0.0, max=1.0)

#: The parameters of a ``network.<toxic>`` fault that are not toxic attributes: ``proxy`` names
#: the proxy in the API path, ``stream`` and ``toxicity`` are fields of the toxic itself.
#: Every other parameter is an attribute of the same name (see :func:`_toxic`).
TOXIC_FIELDS: tuple[str, ...] = ("proxy", "stream", "toxicity")


def _attribute_param(attr: ToxicAttribute, required: bool) -> ParamSpec:
    """A toxic attribute as a fault parameter: same name, an int, the proxy's value when absent
    (unless the scenario must give it), never negative (the harness refuses negative waits
    even where the proxy accepts them as "no wait") and never above what the proxy takes
    (an int64), so the proxy never refuses at run time what the scenario was allowed."""
    return ParamSpec(type="int", description=f"{attr.meaning} ({attr.unit})",
                     default=None if required else ABSENT, required=required,
                     min=max(attr.minimum or 0, 0), max=attr.maximum)


def _toxic(name: str, description: str, required: tuple[str, ...] = ()) -> FaultSpec:
    """A fault that adds one toxic of type ``name``; its attributes come from the proxy's
    catalogue (``harness.toxiproxy.toxics``), ``required`` lists those a scenario must give."""
    attributes = TOXIC_TYPES[name].attributes
    unknown = set(required) - {a.name for a in attributes}
    if unknown:
        raise ValueError(f"network.{name}: {sorted(unknown)} are not attributes of the toxic")
    params = {"proxy": _PROXY, "stream": _STREAM, "toxicity": _TOXICITY}
    params.update((a.name, _attribute_param(a, a.name in required)) for a in attributes)
    return FaultSpec(f"network.{name}", description, params, "required", "proxy",
                     affects="link", undo="remove")


_MODE = _p("str", "pg_ctl shutdown mode", "fast", choices=("smart", "fast", "immediate"))
_RESTART_AFTER = _p("duration", "how long the app stays down before it is restarted", 1.0,
                    min=0.0)

_SPECS: tuple[FaultSpec, ...] = (
    # --- network, through the proxy's Toxiproxy API ---
    _toxic("latency", "delay every packet by latency +- jitter ms", required=("latency",)),
    _toxic("bandwidth", "limit throughput to rate KB/s", required=("rate",)),
    _toxic("slow_close", "delay closing a connection by delay ms", required=("delay",)),
    _toxic("timeout", "stop all data; close the connection after timeout ms (0: never)"),
    _toxic("reset_peer", "reset connections (TCP RST) after timeout ms"),
    _toxic("slicer", "slice data into pieces of average_size +- size_variation bytes, "
           "delay us apart", required=("average_size",)),
    _toxic("limit_data", "close a connection after bytes have passed", required=("bytes",)),
    FaultSpec("network.down", "disable the proxy: new connections refused, open ones closed",
              {"proxy": _PROXY}, "required", "proxy", affects="link", undo="remove"),
    # --- postgres: the server process ---
    FaultSpec("postgres.stop", "stop Postgres for `for` (the downtime), then start it",
              {"mode": _MODE}, "required", "postgres_process", affects="postgres",
              undo="restart"),
    FaultSpec("postgres.crash", "SIGKILL the postmaster; restart after `for` (default at once)",
              {}, "optional", "postgres_process", affects="postgres", undo="restart"),
    FaultSpec("postgres.restart", "stop and start Postgres at once", {"mode": _MODE},
              "forbidden", "postgres_process", affects="postgres", undo="restart"),
    FaultSpec("postgres.freeze", "SIGSTOP every Postgres process for `for`, then SIGCONT",
              {}, "required", "postgres_process", affects="postgres", undo="remove"),
    # --- postgres: SQL ---
    FaultSpec("postgres.exhaust_connections",
              "hold connections from outside the app (count, or all free ones but leave)",
              {"count": _p("int", "connections to hold (default: every free one)", min=1),
               "leave": _p("int", "free slots left when count is not given", 0, min=0)},
              "required", "postgres_sql", affects="postgres", undo="remove"),
    FaultSpec("postgres.set_max_connections",
              "lower max_connections (restarts Postgres); restored after `for`",
              {"value": _p("int", "new max_connections", required=True, min=5, max=10000)},
              "required", "postgres_process", affects="postgres", undo="restart"),
    FaultSpec("postgres.terminate_backends",
              "pg_terminate_backend every connection of an application_name",
              {"application": _p("str", "application_name to terminate", "reference_impl")},
              "forbidden", "postgres_sql", affects="postgres", undo="none"),
    FaultSpec("postgres.drift_schema",
              "rename table.column to new_name; reverted after `for` (or at rollback)",
              {"table": _p("str", "table name", required=True),
               "column": _p("str", "column to rename", required=True),
               "new_name": _p("str", "its new name", required=True)},
              "optional", "postgres_sql", affects="postgres", undo="remove"),
    # --- the app process ---
    FaultSpec("app.kill", "SIGKILL the app, restart it after restart_after",
              {"restart_after": _RESTART_AFTER}, "forbidden", "app_process", affects="app",
              undo="restart"),
    FaultSpec("app.term", "SIGTERM the app (graceful drain), restart it after restart_after",
              {"restart_after": _RESTART_AFTER}, "forbidden", "app_process", affects="app",
              undo="restart"),
    FaultSpec("app.freeze", "SIGSTOP the app for `for`, then SIGCONT", {}, "required",
              "app_process", affects="app", undo="remove"),
    FaultSpec("app.raise", "make the app raise unhandled errors through its chaos hooks",
              {"where": _p("str", "where the error is raised", "handler",
                           choices=("handler", "task", "thread")),
               "count": _p("int", "how many errors", 1, min=1, max=100000)},
              "forbidden", "app_hooks", affects="app", undo="none"),
    FaultSpec("app.flood_tasks", "submit a burst of background tasks through the chaos hooks",
              {"count": _p("int", "tasks submitted", 1000, min=1, max=100_000)},
              "forbidden", "app_hooks", affects="app", undo="none"),
)

#: Every fault action by name, in catalogue order.
FAULTS: dict[str, FaultSpec] = {spec.name: spec for spec in _SPECS}


def effect_of(action: str, params: Mapping[str, object]) -> FaultEffect | None:
    """What the catalogue's ``action`` does with ``params``; None for an unknown action.

    The timeline records this on every apply/remove line. Verify calls it only for a run
    directory written before those fields existed (see
    :attr:`harness.verify.rundir.TimelineEvent.effect`)."""
    spec = FAULTS.get(action)
    return None if spec is None else spec.effect(params)
