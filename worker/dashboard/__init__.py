"""The batch dashboard and ``/metrics``: ``reloadctl dashboard`` (an aiohttp server).

It reads Redis only (the batch ledger, the limiter's and breaker's keys, the
counters of ``worker.monitoring``), never builds the Celery app, and writes
nothing, so any number of dashboards run beside any number of workers:

- ``auth``: basic auth (``RELOAD_DASHBOARD_AUTH``) on every route;
- ``sources``: what it reads; ``batches`` and ``account``: views of the ledger
  and of the account's limiter;
- ``pages`` (with ``chart``): the HTML, rendered on the server;
- ``metrics``: the Prometheus collector behind ``/metrics``;
- ``flower``: how Flower shows this project's tasks, and links to them;
- ``app``: the routes.
"""
