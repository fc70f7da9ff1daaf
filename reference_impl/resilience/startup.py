"""Start services in dependency order, in parallel where independent; stop them in reverse.

A :class:`Service` names what it needs (``deps``).  :class:`ServiceGraph` walks
the graph with :mod:`graphlib`: every service whose dependencies are up (or
degraded) starts at once, so independent services start in parallel and nothing
starts before its dependencies.  A start that raises is retried with
full-jitter backoff:

- a *critical* service with ``retries=None`` retries until it succeeds, the
  ``deadline`` passes or ``start_all`` is cancelled (the database is down at
  boot: keep trying, become ready when it appears);
- a critical service that runs out of retries, or is still not up at the
  deadline, is ``failed`` and ``start_all`` raises :class:`StartupError`;
- an *optional* service that runs out of retries (default 3) is ``degraded``;
  services that depend on it still start (they must cope without it).

``ready`` is true once every critical service is up.  Every step is kept in
``events`` with ``clock()`` times, so ordering can be proven after the fact.
"""

from __future__ import annotations

import asyncio
import graphlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import StartupError
from .retry import RetryPolicy

__all__ = ["Service", "ServiceGraph", "StartupError"]

_OPTIONAL_RETRIES = 3


@dataclass
class Service:
    """One startable piece of the app (``start``/``stop`` are zero-argument coroutines)."""

    name: str
    start: Callable[[], Awaitable[Any]]
    stop: Callable[[], Awaitable[Any]] | None = None
    deps: tuple[str, ...] = ()
    critical: bool = True
    retries: int | None = None
    backoff: RetryPolicy = field(default_factory=lambda: RetryPolicy(1, base_s=0.1, cap_s=2.0))
    attempt_timeout_s: float | None = None

    @property
    def max_retries(self) -> int | None:
        """None: retry forever (critical default); else how many retries after the first try."""
        if self.retries is not None:
            return self.retries
        return None if self.critical else _OPTIONAL_RETRIES


class ServiceGraph:
    """Dependency-ordered, parallel start and reverse-ordered stop of services."""

    def __init__(self, services: list[Service] | tuple[Service, ...], *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        self.services = {s.name: s for s in services}
        if len(self.services) != len(services):
            names = [s.name for s in services]
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise StartupError(f"duplicate service names: {dupes}")
        for service in services:
            unknown = [d for d in service.deps if d not in self.services]
            if unknown:
                raise StartupError(f"service {service.name!r} depends on unknown {unknown}",
                                   service.name)
        self._sorter_graph = {s.name: set(s.deps) for s in services}
        try:
            self.order = list(graphlib.TopologicalSorter(self._sorter_graph).static_order())
        except graphlib.CycleError as exc:
            raise StartupError(f"dependency cycle: {' -> '.join(exc.args[1])}") from exc
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._states = dict.fromkeys(self.services, "pending")
        self._errors: dict[str, str] = {}
        self._attempts = dict.fromkeys(self.services, 0)
        self.events: list[dict[str, Any]] = []

    def _event(self, name: str, event: str, **extra: Any) -> None:
        self.events.append({"t": self._clock(), "service": name, "event": event, **extra})

    def _set(self, name: str, state: str, **extra: Any) -> None:
        self._states[name] = state
        self._event(name, state, **extra)

    def states(self) -> dict[str, str]:
        """pending | starting | up | degraded | failed | stopped, by service name."""
        return dict(self._states)

    @property
    def ready(self) -> bool:
        """Every critical service is up."""
        return all(self._states[n] == "up" for n, s in self.services.items() if s.critical)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: {"state": self._states[name], "critical": s.critical,
                       "attempts": self._attempts[name], "last_error": self._errors.get(name)}
                for name, s in self.services.items()}

    # -- start ---------------------------------------------------------------------------

    async def start_all(self, deadline: float | None = None) -> None:
        """Start everything; ``deadline`` is an absolute ``time.monotonic()`` bound (None: none).

        Raises :class:`StartupError` when a critical service failed or the deadline passed.
        """
        sorter = graphlib.TopologicalSorter(self._sorter_graph)
        sorter.prepare()
        running: dict[asyncio.Task[str], str] = {}
        try:
            while sorter.is_active():
                for name in sorter.get_ready():
                    task = asyncio.get_running_loop().create_task(
                        self._start_one(self.services[name]), name=f"start:{name}")
                    running[task] = name
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                done, _ = await asyncio.wait(running, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    raise self._deadline_passed(list(running.values()))
                for task in done:
                    name = running.pop(task)
                    task.result()  # re-raises StartupError of a failed critical service
                    sorter.done(name)
        finally:
            await _cancel_all(list(running))

    def _deadline_passed(self, pending: list[str]) -> StartupError:
        critical = []
        for name in sorted(pending):
            if self.services[name].critical:
                critical.append(name)
                self._set(name, "failed", error="startup deadline passed")
            else:
                self._set(name, "degraded", error="startup deadline passed")
        waiting = [n for n, st in self._states.items() if st == "pending"]
        detail = "; ".join(f"{n}: {self._errors.get(n) or 'no error yet'}" for n in critical)
        return StartupError(
            f"startup deadline passed: critical services not up: {critical or 'none'} ({detail}); "
            f"never started: {waiting}", critical[0] if critical else None)

    async def _start_one(self, service: Service) -> str:
        max_retries = service.max_retries
        retry = 0
        while True:
            self._attempts[service.name] += 1
            self._set(service.name, "starting", attempt=self._attempts[service.name])
            try:
                if service.attempt_timeout_s is not None:
                    async with asyncio.timeout(service.attempt_timeout_s):
                        await service.start()
                else:
                    await service.start()
            except Exception as exc:
                self._errors[service.name] = f"{type(exc).__name__}: {exc}"
                if max_retries is not None and retry >= max_retries:
                    return self._give_up(service, exc)
                delay = self._rng.uniform(0.0, service.backoff.ceiling(retry))
                retry += 1
                self._event(service.name, "retry", error=self._errors[service.name], delay_s=delay)
                await self._sleep(delay)
                continue
            self._errors.pop(service.name, None)
            self._set(service.name, "up")
            return "up"

    def _give_up(self, service: Service, exc: Exception) -> str:
        error = self._errors[service.name]
        if service.critical:
            self._set(service.name, "failed", error=error)
            raise StartupError(f"critical service {service.name!r} failed after "
                               f"{self._attempts[service.name]} attempts: {error}",
                               service.name, exc)
        self._set(service.name, "degraded", error=error)
        return "degraded"

    # -- stop ----------------------------------------------------------------------------

    async def stop_all(self, timeout_s: float = 10.0) -> list[str]:
        """Stop started services in reverse dependency order within ``timeout_s`` in all.

        Returns the names whose stop failed or ran out of time (they are still
        marked stopped: the process is going away).
        """
        end = time.monotonic() + timeout_s
        problems = []
        for name in reversed(self.order):
            if self._states[name] not in ("up", "starting"):
                continue
            service = self.services[name]
            self._event(name, "stopping")
            if service.stop is not None:
                try:
                    async with asyncio.timeout(max(0.0, end - time.monotonic())):
                        await service.stop()
                except Exception as exc:  # TimeoutError included
                    problems.append(name)
                    self._event(name, "stop_failed", error=f"{type(exc).__name__}: {exc}")
            self._set(name, "stopped")
        return problems


async def _cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            await task
        except (asyncio.CancelledError, StartupError):
            pass
