"""The embedded fault proxy's cost, measured against a direct connection in the same run.

* pgbench -S (-c 8 -j 2, 10 s) TPS direct vs through the proxy, no toxics (goal: ratio >= 0.70),
  and, in the same rounds, through a minimal uvloop forwarder (the floor for Python) and a
  minimal C epoll forwarder (the floor for any proxy: the extra hop itself; built with cc)
* median added round trip with a 20 ms latency toxic (goal: within 1 ms of 20 ms)
* bandwidth toxic accuracy: measured rate vs the toxic's rate (goal: within 10 %)
* bulk transfer MB/s through the proxy vs direct, no toxics (recorded, with the ratio)

Prints the figures and records them in benchmarks/RESULTS.md under
``## Proxy (benchmarks/proxy.py)``.

    .venv/bin/python benchmarks/proxy.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import record_section  # noqa: E402
from harness.faults.network import ProxyClient  # noqa: E402
from harness.provision.postgres import EmbeddedPostgres  # noqa: E402
from harness.provision.process import Supervisor, run_command  # noqa: E402
from harness.provision.proxy import start_proxy  # noqa: E402

TITLE = "Proxy (benchmarks/proxy.py)"
ROUNDS = 2


def _pgbench() -> str:
    for candidate in (shutil.which("pgbench"), "/usr/lib/postgresql/15/bin/pgbench"):
        if candidate and Path(candidate).exists():
            return candidate
    raise SystemExit("pgbench not found")


def _pg_env(pg: EmbeddedPostgres) -> dict[str, str]:
    """pgbench's environment: the embedded superuser's password (never on its command line)."""
    return {**os.environ, "PGPASSWORD": pg.password}


def pgbench_tps(host: str, port: int, seconds: int, env: dict[str, str]) -> float:
    out = run_command([_pgbench(), "-h", host, "-p", str(port), "-U", "postgres", "-S", "-c", "8",
                       "-j", "2", "-T", str(seconds), "postgres"], timeout=seconds + 60, env=env)
    match = re.search(r"tps = ([\d.]+) \((?:without|excluding)", out)
    if match is None:
        raise SystemExit(f"cannot read pgbench output:\n{out}")
    return float(match.group(1))


class Echo:
    """A threaded echo (or sink) server on 127.0.0.1:0."""

    def __init__(self, sink: bool = False) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.sink = sink
        self.received = 0
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while data := conn.recv(1 << 20):
                if self.sink:
                    self.received += len(data)
                else:
                    conn.sendall(data)
        self.done.set()

    def close(self) -> None:
        self.sock.close()


def _connect(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def median_rtt_ms(address: str, rounds: int = 200) -> float:
    with _connect(address) as sock:
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            sock.sendall(b"p" * 64)
            got = 0
            while got < 64:
                got += len(sock.recv(64 - got))
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def transfer_mb_s(address: str, sink: Echo, total: int) -> float:
    """Send ``total`` bytes to ``sink`` via ``address``; MB/s until the sink has them all."""
    sink.received, block = 0, b"\0" * (1 << 20)
    start = time.perf_counter()
    with _connect(address) as sock:
        sent = 0
        while sent < total:
            sock.sendall(block[: min(len(block), total - sent)])
            sent += min(len(block), total - sent)
        deadline = time.monotonic() + 120
        while sink.received < total and time.monotonic() < deadline:
            time.sleep(0.001)
    return total / (time.perf_counter() - start) / 1e6


def _proxy(api: ProxyClient, name: str, upstream: str) -> str:
    return str(api.create_proxy(name, upstream=upstream)["listen"])


def _start_forwarder(sup: Supervisor, pg: EmbeddedPostgres, name: str, command: list[str]) -> int:
    """Start ``command PORT PG_HOST PG_PORT`` (a forwarder in front of Postgres); its port."""
    from harness.provision.ports import free_port
    from harness.provision.ready import wait_until

    port = free_port()
    child = sup.spawn(name, [*command, str(port), pg.host, str(pg.port)])
    wait_until(lambda: "listening on" in child.log_path.read_text(errors="replace"), 30,
               what=name, on_timeout=child.log_tail)
    return port


def _start_floor(sup: Supervisor, pg: EmbeddedPostgres) -> int:
    """Start benchmarks/_forwarder.py in front of Postgres; its port."""
    script = str(Path(__file__).with_name("_forwarder.py"))
    return _start_forwarder(sup, pg, "minimal forwarder", [sys.executable, script])


def _start_native_floor(sup: Supervisor, pg: EmbeddedPostgres, build_dir: Path) -> int | None:
    """Build benchmarks/_forwarder.c with the system's cc and start it; its port (None: no cc)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    binary = build_dir / "forwarder"
    run_command([cc, "-O2", "-o", str(binary), str(Path(__file__).with_name("_forwarder.c"))],
                timeout=120)
    return _start_forwarder(sup, pg, "native forwarder", [str(binary)])


def _measure(api: ProxyClient, pg: EmbeddedPostgres, seconds: int, say: Callable[[str], None],
             sup: Supervisor, build_dir: Path) -> list[str]:
    load_at_start = os.getloadavg()[0]
    pg_listen = _proxy(api, "pg", f"{pg.host}:{pg.port}")
    run_command([_pgbench(), "-i", "-s", "1", "-q", "-h", pg.host, "-p", str(pg.port), "-U", "postgres",
                 "postgres"], timeout=120, env=_pg_env(pg))
    host, port = pg_listen.rsplit(":", 1)
    floor_port = _start_floor(sup, pg)
    native_port = _start_native_floor(sup, pg, build_dir)
    direct_runs, proxied_runs, floor_runs, native_runs = [], [], [], []
    for _ in range(ROUNDS):  # alternate, so a change in the machine's load hits every side
        direct_runs.append(pgbench_tps(pg.host, pg.port, seconds, _pg_env(pg)))
        proxied_runs.append(pgbench_tps(host, int(port), seconds, _pg_env(pg)))
        floor_runs.append(pgbench_tps("127.0.0.1", floor_port, seconds, _pg_env(pg)))
        if native_port is not None:
            native_runs.append(pgbench_tps("127.0.0.1", native_port, seconds, _pg_env(pg)))
    direct_tps, proxied_tps = statistics.mean(direct_runs), statistics.mean(proxied_runs)
    floor_tps = statistics.mean(floor_runs)
    ratio = proxied_tps / direct_tps
    say(f"pgbench -S: direct {direct_tps:.0f} tps, proxied {proxied_tps:.0f} tps, ratio {ratio:.2f}; "
        f"minimal forwarder {floor_tps:.0f} tps, ratio {floor_tps / direct_tps:.2f}")
    if native_runs:
        native_tps = statistics.mean(native_runs)
        say(f"native forwarder {native_tps:.0f} tps, ratio {native_tps / direct_tps:.2f}")
        native_line = (
            f"- the floor for any proxy, in the same rounds: a minimal C epoll forwarder "
            f"(benchmarks/_forwarder.c, cc -O2) gets **{native_tps:.0f} tps**, ratio "
            f"**{native_tps / direct_tps:.2f}** of direct (per round: "
            + ", ".join(f"{f / d:.2f}" for d, f in zip(direct_runs, native_runs, strict=True))
            + f"); the embedded proxy is **{proxied_tps / native_tps:.2f}x** it. What the hop "
            f"itself costs (two more loopback TCP traversals and wake-ups per round trip, on the "
            f"2 cores pgbench and Postgres use) is beyond any proxy's code")
    else:
        native_line = "- the floor for any proxy (benchmarks/_forwarder.c): not measured, no cc"

    echo = Echo()
    echo_listen = _proxy(api, "echo", echo.address)
    direct_rtt = median_rtt_ms(echo.address)
    plain_rtt = median_rtt_ms(echo_listen)
    api.add_toxic("echo", type="latency", attributes={"latency": 20})
    toxic_rtt = median_rtt_ms(echo_listen, rounds=100)
    added = toxic_rtt - plain_rtt
    say(f"rtt: direct {direct_rtt:.3f} ms, proxied {plain_rtt:.3f} ms, with 20 ms toxic {toxic_rtt:.3f}")

    sink = Echo(sink=True)
    sink_listen = _proxy(api, "sink", sink.address)
    api.add_toxic("sink", type="bandwidth", stream="upstream", attributes={"rate": 5000})
    shaped = transfer_mb_s(sink_listen, sink, 10_000_000) * 1000  # KB/s
    error = abs(shaped - 5000) / 5000
    say(f"bandwidth toxic 5000 KB/s: measured {shaped:.0f} KB/s ({error:.1%} off)")
    api.remove_toxic("sink", "bandwidth_upstream")
    total = 512 * 1024 * 1024
    bulk_direct = transfer_mb_s(sink.address, sink, total)
    bulk_proxied = transfer_mb_s(sink_listen, sink, total)
    say(f"bulk: direct {bulk_direct:.0f} MB/s, proxied {bulk_proxied:.0f} MB/s")
    echo.close()
    sink.close()

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    return [
        f"- pgbench -S -c 8 -j 2 -T {seconds}, {ROUNDS} alternating rounds each: direct "
        f"**{direct_tps:.0f} tps**, through the proxy **{proxied_tps:.0f} tps**, ratio **{ratio:.2f}**"
        f"; goal >= 0.70: {verdict(ratio >= 0.70)} (per round: "
        + ", ".join(f"{p / d:.2f}" for d, p in zip(direct_runs, proxied_runs, strict=True))
        + f"; load average at start {load_at_start:.1f}, shared 2-core machine)",
        f"- the floor, in the same rounds: a minimal uvloop forwarder (benchmarks/_forwarder.py: "
        f"read a chunk, write it to the other socket, nothing else) gets **{floor_tps:.0f} tps**, "
        f"ratio **{floor_tps / direct_tps:.2f}** of direct; the embedded proxy is "
        f"**{proxied_tps / floor_tps:.2f}x** the floor (per round: "
        + ", ".join(f"{f / d:.2f}" for d, f in zip(direct_runs, floor_runs, strict=True)) + ")",
        native_line,
        f"- small echo round trip, median: direct {direct_rtt:.3f} ms, through the proxy "
        f"{plain_rtt:.3f} ms (+{plain_rtt - direct_rtt:.3f} ms per round trip, no toxics)",
        f"- 20 ms latency toxic: added round trip **{added:.2f} ms** (median of 100); "
        f"goal within 1 ms of 20: {verdict(abs(added - 20) <= 1)}",
        f"- bandwidth toxic at 5000 KB/s on 10 MB: measured **{shaped:.0f} KB/s** ({error:.1%} off); "
        f"goal within 10 %: {verdict(error <= 0.10)}",
        f"- bulk 512 MiB, no toxics: direct {bulk_direct:.0f} MB/s, through the proxy "
        f"**{bulk_proxied:.0f} MB/s** (ratio {bulk_proxied / bulk_direct:.2f})",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="pgbench duration per side")
    parser.add_argument("--no-record", action="store_true", help="print only, do not write RESULTS.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, Supervisor(Path(tmp) / "logs") as sup, \
            EmbeddedPostgres(log_dir=Path(tmp) / "pg", fsync=False, supervisor=sup) as pg:
        proxy = start_proxy(sup)
        lines = _measure(proxy.client, pg, args.seconds, lambda s: print(s, flush=True), sup,
                         Path(tmp))
    print("\n".join(lines))
    if not args.no_record:
        record_section(TITLE, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
