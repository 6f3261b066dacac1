"""The batch dashboard and ``/metrics``: ``reloadctl dashboard`` (an aiohttp server).

It reads Redis only (the ledger, the limiter's and breaker's keys, ``worker.monitoring``'s
counters), writes nothing and never builds the Celery app, so any number of dashboards run
beside any number of workers. Modules: ``app`` (the routes), ``auth`` (basic auth),
``sources`` (what it reads), ``batches`` and ``account`` (the views), ``pages`` and ``chart``
(the HTML), ``metrics`` (the collector), ``flower`` (how Flower shows the tasks).
"""
