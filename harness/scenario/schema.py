"""The resolved scenario: frozen dataclasses with every default filled in.

Durations are float seconds. Tables that are maps in TOML (``env``, ``mix``, fault
params) are read-only mappings. :mod:`harness.scenario.loader` builds these from a
TOML file and :mod:`harness.scenario.writer` writes them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from harness.load.declared import RequestSpec
from harness.slo import Slo

__all__ = [
    "DEFAULT_MIX",
    "DEFAULT_WRITES_SQL",
    "EXPECTS",
    "PROFILES",
    "SHAPES",
    "TASKS",
    "DependencySpec",
    "Fault",
    "LoadSpec",
    "ObserveSpec",
    "PostgresSpec",
    "ProxySpec",
    "Repeat",
    "Scenario",
    "TargetSpec",
    "VerifySpec",
    "frozen_map",
]

#: Load tasks of the reference API, as ``[load] mix`` names them.
TASKS: tuple[str, ...] = (
    "post_message", "read_history", "join_room", "submit_plan", "lookup_node", "export",
    "resume_session",
)
DEFAULT_MIX: Mapping[str, int] = MappingProxyType(
    {"post_message": 5, "read_history": 3, "join_room": 1, "submit_plan": 1,
     "lookup_node": 0, "export": 0, "resume_session": 0}
)
SHAPES: tuple[str, ...] = ("constant", "ramp", "step", "spike")
PROFILES: tuple[str, ...] = ("resilient", "naive")
EXPECTS: tuple[str, ...] = ("pass", "fail")
DEFAULT_WRITES_SQL = (
    "select idempotency_key, count(*) from messages "
    "where idempotency_key is not null group by 1"
)


def frozen_map(items: Mapping[str, object]) -> Mapping[str, object]:
    """A read-only copy of ``items``."""
    return MappingProxyType(dict(items))


@dataclass(frozen=True)
class TargetSpec:
    """The system under test: the reference app, a command the harness runs, or a URL."""

    kind: str = "reference"
    profile: str = "resilient"
    chaos_hooks: bool = True
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    auto_migrate: bool = True
    migrate_to: str = ""
    command: str = ""
    url: str = ""
    #: Probes, each optional ("" = the target has none): liveness, readiness, a JSON stats
    #: endpoint. The reference app's are the defaults for kind "reference" only.
    health_path: str = "/health"
    ready_path: str = "/health/ready"
    stats_path: str = "/api/monitoring/stats"
    dsn_env: str = "DATABASE_URL"
    locustfile: str = ""
    #: Where a command target runs: relative paths resolve against the scenario file's
    #: directory when it is loaded (and are written back absolute, so a replay finds them).
    workdir: str = ""
    #: The address the harness-started service listens on (reference or command kind):
    #: loopback by default; an address of this host when load workers on other hosts send to it.
    listen_host: str = "127.0.0.1"
    #: Regular expressions: a line of the target's output matching one is an unhandled error
    #: (on top of the built-in Python, Node, Go and JVM detectors).
    unhandled_error_patterns: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """What reports call the target: the reference app's profile, else its kind."""
        return self.profile if self.kind == "reference" else f"{self.kind} target"

    @property
    def has_process(self) -> bool:
        """The harness starts the target, so process faults can reach it."""
        return self.kind in ("reference", "command")


@dataclass(frozen=True)
class PostgresSpec:
    """Where the database comes from: embedded (started by the harness) or a DSN.

    ``listen`` is where the fault proxy in front of it listens (port 0: any free port); a
    service the harness does not start (kind ``url``) needs a fixed one to connect to.
    """

    provider: str = "embedded"
    dsn: str = ""
    fsync: bool = True
    max_connections: int = 100
    listen: str = "127.0.0.1:0"
    #: ``postgres.drift_schema`` renames a column of the database; on a server given by DSN
    #: (a user's own database) a killed harness would leave it renamed, so the scenario must
    #: opt in explicitly.
    allow_schema_drift: bool = False


@dataclass(frozen=True)
class DependencySpec:
    """Another upstream of the service (a Redis, an HTTP API, ...), behind its own proxy.

    Either ``upstream`` (``host:port`` of one already running) or ``command`` (the harness
    starts and supervises it on a free port: ``{port}`` and ``PORT``). The service reaches it
    through the proxy at ``listen``; network faults name it with ``proxy = "<name>"``, and the
    target's command line and environment get its address as ``{<name>}`` (``host:port``).
    """

    name: str
    upstream: str = ""
    command: str = ""
    workdir: str = ""
    listen: str = "127.0.0.1:0"


@dataclass(frozen=True)
class ProxySpec:
    """The fault proxy: the embedded server, or a real toxiproxy by URL or binary path."""

    kind: str = "embedded"
    url: str = ""
    path: str = ""


@dataclass(frozen=True)
class LoadSpec:
    """Locust load: users, task mix, shape and the careful client's write retries."""

    users: int = 20
    spawn_rate: float = 10.0
    mix: Mapping[str, int] = field(default_factory=lambda: DEFAULT_MIX)
    shape: str = "constant"
    ramp_for: float = 0.0
    steps: int = 0
    step_users: int = 0
    step_every: float = 0.0
    spike_users: int = 0
    spike_at: float = 0.0
    spike_for: float = 0.0
    wait_ms: tuple[int, int] = (50, 200)
    workers: int = 0
    #: Locust workers on other hosts (``chaosharness load-worker``) the run waits for.
    expect_workers: int = 0
    #: Where the load's master listens for them: loopback and a free port by default.
    master_bind: str = "127.0.0.1:0"
    #: How long the run waits for the expected workers before it fails (exit 2).
    expect_workers_timeout: float = 60.0
    request_timeout: float = 2.0
    write_retries: int = 3
    rooms: int = 10
    #: Requests declared in the scenario (``[[load.request]]``); empty: the reference ``mix``.
    requests: tuple[RequestSpec, ...] = ()

    @property
    def peak_users(self) -> int:
        """The most users the shape ever asks for."""
        if self.shape == "step":
            return self.users + self.steps * self.step_users
        if self.shape == "spike":
            return max(self.users, self.spike_users)
        return self.users


@dataclass(frozen=True)
class Repeat:
    """A flapping fault: applied ``count`` times, ``every`` seconds apart."""

    every: float
    count: int


@dataclass(frozen=True)
class Fault:
    """One ``[[fault]]`` entry: ``action`` from the catalogue at ``at`` for ``for_`` seconds.

    ``params`` holds every parameter of the action, defaults resolved (durations in s).
    """

    index: int
    action: str
    at: float
    for_: float | None = None
    repeat: Repeat | None = None
    params: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def windows(self) -> list[tuple[float, float | None]]:
        """Planned ``(start_s, end_s)`` of each application (``end_s`` None: until rollback)."""
        count, every = (self.repeat.count, self.repeat.every) if self.repeat else (1, 0.0)
        starts = [self.at + k * every for k in range(count)]
        return [(s, None if self.for_ is None else s + self.for_) for s in starts]


@dataclass(frozen=True)
class ObserveSpec:
    """Sampler cadence: the stats tick and tracemalloc snapshot interval."""

    tick: float = 1.0
    memory_every: float = 10.0
    tracemalloc: bool = False


@dataclass(frozen=True)
class VerifySpec:
    """Verification options: the online lost-write abort, the final-read SQL, the recovery rule."""

    abort_on_lost_write: bool = False
    writes_sql: str = DEFAULT_WRITES_SQL
    #: What "recovered" means after a fault: ``recovery_min_ok`` of the requests of a
    #: ``recovery_window`` (seconds) were ok.
    recovery_window: float = 5.0
    recovery_min_ok: float = 0.99


@dataclass(frozen=True)
class Scenario:
    """A resolved scenario. ``source`` is the file it came from (not part of equality)."""

    name: str
    description: str = ""
    seed: int = 0
    duration: float = 60.0
    warmup: float = 5.0
    cooldown: float = 5.0
    expect: str = "pass"
    expect_fail: tuple[str, ...] = ()
    target: TargetSpec = field(default_factory=TargetSpec)
    postgres: PostgresSpec = field(default_factory=PostgresSpec)
    proxy: ProxySpec = field(default_factory=ProxySpec)
    dependencies: tuple[DependencySpec, ...] = ()
    load: LoadSpec = field(default_factory=LoadSpec)
    faults: tuple[Fault, ...] = ()
    observe: ObserveSpec = field(default_factory=ObserveSpec)
    slos: tuple[Slo, ...] = ()
    verify: VerifySpec = field(default_factory=VerifySpec)
    source: Path | None = field(default=None, compare=False)

    def slo(self, slo_id: str) -> Slo | None:
        """The SLO with id ``"<metric>@<phase>"``, or None."""
        return next((s for s in self.slos if s.id == slo_id), None)
