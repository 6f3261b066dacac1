"""Given a worker about to fork a prefork pool process, when Celery says so
(``worker_before_create_process``), then the worker's objects are frozen out of the garbage
collector: the pool process's collections leave the pages it shares with the worker alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc
    import worker.celery
    from celery import signals

    before = gc.get_freeze_count()
    signals.worker_before_create_process.send(sender=None)
    print(before, gc.get_freeze_count(), len(gc.get_objects()))
    """
)


def test_the_worker_freezes_its_objects_before_forking_a_pool_process() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELOAD_", "CELERY_"))}
    env["MODELSLAB_API_KEY"] = "unused-key"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    before, after, tracked = (int(x) for x in done.stdout.split())
    assert before == 0
    # Every object the worker had (its modules, the app, the settings) is frozen; what the
    # collector still tracks is only what was made since.
    assert after > 50_000
    assert tracked < after / 10
