"""What a running host tells its operator about itself: Prometheus metrics and the event-loop stall watchdog.

- :mod:`xcore._observability.metrics`: the series (``app.metrics: true`` turns them on), and the few
  calls through which XCore's dispatch points and service backends, built-in or third-party, count.
- :mod:`xcore._observability.http_metrics`: the ASGI middleware counting requests per plugin and route.
- :mod:`xcore._observability.endpoint`: ``GET /metrics`` (one process, or every worker's files).
- :mod:`xcore._observability.multiprocess`: the private metrics directory of ``xcore serve --workers N``.
- :mod:`xcore._observability.stalls`: a thread that reports whatever holds the event loop too long.

Everything here costs nothing while off: the instrumentation points test one module global.
``docs/observability.md`` lists every series and label.
"""
