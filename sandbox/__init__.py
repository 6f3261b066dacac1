"""Local tooling: run the whole system on one machine without ModelsLab.

``sim`` is the upstream simulator, ``embedded_redis`` a Redis in a child process, ``processes``
Celery workers, beat, Flower and the dashboard as child processes, ``demo`` the ``reloadctl
demo`` run. Installed with the ``sandbox`` extra; production code never imports it.
"""
