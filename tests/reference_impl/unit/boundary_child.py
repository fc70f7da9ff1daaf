"""Child process for test_resilience_boundary_process.py: raises in every place an
unhandled error can surface, with an ErrorBoundary installed, then dies of an uncaught one.

Not a test module; run as ``python boundary_child.py``.
"""

from __future__ import annotations

import asyncio
import gc
import threading

from reference_impl.resilience.error_boundary import ErrorBoundary


def _thread_body() -> None:
    raise ConnectionResetError("raised in a thread")


async def _spawned() -> None:
    raise ValueError("raised in a spawned task")


async def _orphan() -> None:
    raise KeyError("raised in a task nobody awaits")


def _bad_callback() -> None:
    raise ZeroDivisionError("raised in a loop callback")


async def main(boundary: ErrorBoundary) -> None:
    loop = asyncio.get_running_loop()
    boundary.install(loop)
    boundary.spawn(_spawned(), "spawned")
    orphan = loop.create_task(_orphan(), name="orphan")
    await asyncio.sleep(0.01)
    del orphan
    gc.collect()  # "Task exception was never retrieved" -> the loop's handler
    loop.call_soon(_bad_callback)
    worker = threading.Thread(target=_thread_body, name="worker")
    worker.start()
    worker.join(5)
    await asyncio.sleep(0.05)
    print("still alive", flush=True)


if __name__ == "__main__":
    asyncio.run(main(ErrorBoundary()))
    raise RuntimeError("uncaught at top level")  # -> sys.excepthook, exit code 1
