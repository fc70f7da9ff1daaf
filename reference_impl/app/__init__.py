"""The HTTP service of the reference implementation.

``create_app(config)`` builds the FastAPI app (one module per route group:
``routes_*``); ``server.serve(config)`` runs it under uvicorn with a draining
shutdown. Profile-specific behaviour lives in ``backend_resilient`` and
``backend_naive``; the routes only see the ``Store`` protocol (``store``).
"""

from reference_impl.app.factory import create_app

__all__ = ["create_app"]
