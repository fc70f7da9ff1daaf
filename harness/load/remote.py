"""``chaosharness load-worker``: join a run's load from another host.

The worker needs the run's load config before Locust imports the harness' locustfile
(the user classes are built from it at import time), and it must come from the master,
not from a shared disk. So the command first asks the master for it over the master's
own Locust port, with Locust's message protocol (a throw-away node sends ``chx_config``;
the master's :class:`~harness.load.distributed.RowCollector` answers), writes it to a
local temporary directory, and then becomes ``locust --worker`` on the harness' locustfile
(``exec``: signals reach Locust itself). When the master runs a user's own locustfile
(``[target] locustfile``) the answer carries that file too (name, text, SHA-256:
:mod:`harness.load.shipped`); the worker checks the hash, writes it into the same private
directory and runs it instead, so no host but the run's needs a copy. Why this way:

* one port to open between the hosts (Locust's), no HTTP endpoint of the conductor's;
* the config is whole before any user class exists, so a worker runs exactly the code
  a local run does, and a worker that cannot get it fails before it joins (no half-joined
  worker holding the run);
* the round trip measures the clock: ``t0`` on this host is taken as the midpoint of the
  request and the answer minus the master's run time, so ``t_s`` on both hosts agree to
  within half the round trip (reported). Monotonic clocks of two hosts drift by parts
  per million, milliseconds over an hour.

Locust itself is imported only when the command runs (it gevent-patches the process).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import HarnessError
from harness.load.config import CONFIG_ARG, CONFIG_ENV, LoadRunConfig
from harness.load.shipped import ShippedLocustfile

__all__ = ["FetchedConfig", "fetch_config", "parse_hostport", "worker_argv"]

#: Locust's default master port, when ``--master HOST`` gives none.
DEFAULT_MASTER_PORT = 5557
#: The message a joining worker's pre-flight sends, and the master's answer.
MSG_CONFIG = "chx_config"


def parse_hostport(text: str, default_port: int = DEFAULT_MASTER_PORT) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``, or ``[v6]:PORT``) as (host, port); ValueError when malformed."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"expected HOST:PORT with a numeric port, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host, port


@dataclass(frozen=True)
class FetchedConfig:
    """The run's config as this host must use it, how well the clocks were matched, and the
    user's locustfile the master runs (None: the harness' own)."""

    config: LoadRunConfig
    rtt_ms: float
    locustfile: ShippedLocustfile | None = None


def fetch_config(host: str, port: int, timeout_s: float = 60.0) -> FetchedConfig:
    """Ask the master at ``host:port`` for the run's load config, retrying until ``timeout_s``
    (the master may not listen yet). ``t0_monotonic`` is translated to this host's clock."""
    import gevent
    from locust.rpc import Message, rpc

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        identity = f"chx-preflight_{uuid.uuid4().hex}"
        client = rpc.Client(host, port, identity)
        answer: dict[str, object] | None = None
        try:
            sent = time.monotonic()
            client.send(Message(MSG_CONFIG, {"sent": sent}, identity))
            with gevent.Timeout(min(2.0, max(0.1, deadline - time.monotonic())), False):
                while answer is None:
                    msg = client.recv()
                    if msg.type == MSG_CONFIG:
                        got, answer = time.monotonic(), dict(msg.data or {})
        except Exception as exc:  # noqa: BLE001 - RPC errors: retried until the deadline
            last = f"{type(exc).__name__}: {exc}"
        finally:
            client.close(linger=0)
        if answer is not None:  # an answer that cannot be used is not asked for again
            return _translate(answer, sent, got)
    raise HarnessError(f"no load config from the master at {host}:{port} within "
                       f"{timeout_s:g} s ({last}); is `chaosharness run` waiting for workers "
                       "there, and is its port reachable from this host?")


def _translate(data: dict[str, object], sent: float, got: float) -> FetchedConfig:
    text = data.get("config")
    run_t = data.get("run_t_s")
    if not isinstance(text, str) or not isinstance(run_t, int | float):
        raise HarnessError(f"the master's config answer is malformed: {sorted(data)}")
    config = LoadRunConfig.from_json(text)
    if data.get("locustfile_error"):
        raise HarnessError(f"the master cannot send its locustfile: {data['locustfile_error']}")
    shipped = None
    if data.get("locustfile") is not None:
        try:
            shipped = ShippedLocustfile.from_message(data["locustfile"])
        except ValueError as exc:
            raise HarnessError(f"the master's locustfile cannot be used: {exc}") from None
    local_t0 = (sent + got) / 2.0 - float(run_t)
    return FetchedConfig(replace(config, t0_monotonic=local_t0), round((got - sent) * 1000, 3),
                         shipped)


def worker_argv(host: str, port: int, config_path: Path, python: str = sys.executable,
                locustfile: Path | None = None) -> list[str]:
    """``python -m locust --worker ...`` on the harness' locustfile with ``config_path``, or on
    ``locustfile`` (a user's, which may not declare the config option: it reads
    ``CHAOSHARNESS_LOAD_CONFIG``, which :func:`run_worker` sets)."""
    from harness.load.command import LOCUSTFILE

    argv = [python, "-m", "locust", "--worker", "--master-host", host, "--master-port",
            str(port), "-f", str(locustfile or LOCUSTFILE)]
    return argv if locustfile is not None else [*argv, CONFIG_ARG, str(config_path)]


def run_worker(master: str, timeout_s: float = 60.0) -> int:
    """Fetch the config, then become the Locust worker (returns only when exec fails)."""
    try:
        host, port = parse_hostport(master)
    except ValueError as exc:
        raise HarnessError(f"--master: {exc}") from None
    fetched = fetch_config(host, port, timeout_s)
    workdir = Path(tempfile.mkdtemp(prefix="chaosharness-load-"))  # private: mode 0700
    config_path = fetched.config.write(workdir / "load.json")
    shipped = fetched.locustfile
    locustfile = shipped.write_into(workdir) if shipped is not None else None
    print(json.dumps({"chaosharness": "load-worker", "master": f"{host}:{port}",
                      "config": str(config_path), "rtt_ms": fetched.rtt_ms,
                      "locustfile": str(locustfile) if locustfile else None,
                      "locustfile_sha256": shipped.sha256 if shipped else None}),
          file=sys.stderr, flush=True)
    argv = worker_argv(host, port, config_path, locustfile=locustfile)
    env = {**os.environ, CONFIG_ENV: str(config_path)}
    os.execve(argv[0], argv, env)
    return 2  # pragma: no cover - execve does not return
