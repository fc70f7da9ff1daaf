"""Postgres providers the harness does not own the process of: by DSN, and testcontainers.

A server given by DSN supports the SQL fault actions only; the process actions
refuse with a :class:`FaultError` naming what is unavailable. The testcontainers
provider needs a reachable Docker engine (and the ``containers`` extra).
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

from harness.errors import FaultError, ProvisionError
from harness.provision.pg_probe import can_query

__all__ = ["ContainerPostgres", "DsnPostgres", "docker_available"]


def _redact(dsn: str) -> str:
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else dsn


class DsnPostgres:
    """An existing server, reached by DSN. The harness cannot stop, crash or freeze it."""

    provider = "dsn"
    pid = None

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    @property
    def dsn(self) -> str:
        return self._dsn

    def __enter__(self) -> DsnPostgres:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def start(self) -> float:
        if not can_query(self._dsn, timeout=3.0):
            raise ProvisionError(f"the Postgres server at {_redact(self._dsn)} does not answer")
        return 0.0

    def _refuse(self, action: str) -> FaultError:
        return FaultError(
            f"postgres.{action} is unavailable: the server at {_redact(self._dsn)} was given by DSN, "
            "so the harness does not own its process (use the embedded provider for process faults)"
        )

    def stop(self, mode: Any = "fast", timeout: float = 30.0) -> int | None:
        raise self._refuse("stop")

    def crash(self) -> None:
        raise self._refuse("crash")

    def freeze(self) -> list[int]:
        raise self._refuse("freeze")

    def thaw(self) -> list[int]:
        raise self._refuse("thaw")

    def destroy(self) -> None:
        return None


def docker_available() -> str | None:
    """``None`` when a Docker engine answers, else the reason it does not."""
    try:
        import docker
    except ImportError:
        return "the docker package is not installed (pip install 'chaosharness[containers]')"
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not os.path.exists("/var/run/docker.sock"):
        return "no Docker engine reachable (no DOCKER_HOST and no /var/run/docker.sock)"
    client = None
    try:
        client = docker.from_env(timeout=3)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        return f"no Docker engine reachable ({type(exc).__name__}: {exc})"
    finally:
        if client is not None:
            client.close()
    return None


class ContainerPostgres:
    """Postgres in a container via testcontainers' PostgresContainer."""

    provider = "testcontainers"
    pid = None

    def __init__(self, image: str = "postgres:15") -> None:
        self.image = image
        self._container: Any = None

    @property
    def dsn(self) -> str:
        if self._container is None:
            raise ProvisionError("the Postgres container is not started")
        url: str = self._container.get_connection_url(driver=None)
        return url

    def __enter__(self) -> ContainerPostgres:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.destroy()

    def start(self) -> float:
        reason = docker_available()
        if reason:
            raise ProvisionError(f"testcontainers provider: {reason}")
        if self._container is None:
            from testcontainers.postgres import PostgresContainer

            os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "false")
            self._container = PostgresContainer(self.image).start()
        else:
            self._container.get_wrapped_container().start()
        return 0.0

    def stop(self, mode: Any = "fast", timeout: float = 30.0) -> int | None:
        self._container.get_wrapped_container().stop(timeout=int(timeout))
        return 0

    def crash(self) -> None:
        self._container.get_wrapped_container().kill()

    def freeze(self) -> list[int]:
        self._container.get_wrapped_container().pause()
        return []

    def thaw(self) -> list[int]:
        self._container.get_wrapped_container().unpause()
        return []

    def destroy(self) -> None:
        if self._container is not None:
            self._container.stop()
            self._container = None
