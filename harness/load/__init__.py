"""The load stage: Locust users for the reference API and the request recorder.

Two halves that never mix:

- :mod:`.config`, :mod:`.keys` and :mod:`.command` are plain Python: the conductor
  writes a :class:`~harness.load.config.LoadRunConfig`, builds the ``locust`` command
  line with :func:`~harness.load.command.locust_argv` and merges the per-process
  request files with :func:`~harness.load.command.merge_request_files`;
- :mod:`.locustfile`, :mod:`.recorder` and :mod:`.shapes` import locust (which
  gevent-patches the process), so they run only inside Locust's own process.

Nothing here imports locust at package import time.
"""
