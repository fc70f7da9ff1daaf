"""The resilience core of the reference implementation: pure asyncio building blocks.

One module per concern; the database manager, the HTTP app and the startup
wiring are built from these:

- :mod:`.sqlstate`: classify database errors (retryable? counts for the breaker? class)
- :mod:`.breaker`: circuit breaker with a sliding window, and a registry
- :mod:`.retry`: capped exponential backoff with full jitter, retry budget, ``retry_call``
- :mod:`.task_manager`: bounded priority queue of background tasks
- :mod:`.error_boundary`: hooks, classification and one-line JSON logging of unhandled errors
- :mod:`.memory_monitor`: RSS thresholds, pressure events, tracemalloc diffs
- :mod:`.health_monitor`: a background probe with a down/up verdict (readiness without traffic)
- :mod:`.startup`: dependency-ordered parallel startup and reverse stop
"""

from .breaker import BreakerConfig, BreakerRegistry, BreakerState, CircuitBreaker
from .error_boundary import ErrorBoundary, RecoveryHandler
from .errors import (
    CircuitOpenError,
    QueueFullError,
    ResilienceError,
    StartupError,
    TaskManagerClosedError,
)
from .health_monitor import HealthMonitor, ProbeInconclusive
from .memory_monitor import MemoryMonitor
from .retry import RetryBudget, RetryPolicy, backoff_delays, retry_call
from .sqlstate import DbErrorKind, classify_db_error, is_undefined_column, sqlstate_of
from .startup import Service, ServiceGraph
from .task_manager import Priority, TaskManager

__all__ = [
    "BreakerConfig",
    "BreakerRegistry",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "DbErrorKind",
    "ErrorBoundary",
    "HealthMonitor",
    "MemoryMonitor",
    "Priority",
    "ProbeInconclusive",
    "QueueFullError",
    "RecoveryHandler",
    "ResilienceError",
    "RetryBudget",
    "RetryPolicy",
    "Service",
    "ServiceGraph",
    "StartupError",
    "TaskManager",
    "TaskManagerClosedError",
    "backoff_delays",
    "classify_db_error",
    "is_undefined_column",
    "retry_call",
    "sqlstate_of",
]
