"""The floor for a Python TCP proxy: the least a forwarder can do per chunk, on uvloop.

No toxics, no API, no counters, no flow control: each chunk read on one socket
is written to the other. benchmarks/proxy.py runs pgbench through it in the same
rounds as through the embedded proxy, so the proxy's ratio can be read against
what any Python forwarder gets on the same machine at the same moment.

    python benchmarks/_forwarder.py LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import sys


class _Side(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.pending: list[bytes] = []  # read before the other socket existed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            self.pending.append(data)
        else:
            peer.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


async def serve(listen_port: int, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()

    def accepted() -> _Side:
        client = _Side()

        async def dial() -> None:
            upstream = _Side()
            try:
                await loop.create_connection(lambda: upstream, host, port)
            except OSError:
                if client.transport is not None:
                    client.transport.close()
                return
            upstream.peer, client.peer = client, upstream
            if upstream.transport is not None and client.pending:
                upstream.transport.writelines(client.pending)
                client.pending.clear()

        loop.create_task(dial())
        return client

    server = await loop.create_server(accepted, "127.0.0.1", listen_port)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


def main() -> None:
    import uvloop

    listen_port, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    uvloop.run(serve(listen_port, host, port))


if __name__ == "__main__":
    main()
