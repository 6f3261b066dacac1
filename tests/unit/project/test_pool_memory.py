"""Given a worker about to fork a prefork pool process, when Celery says so
(``worker_before_create_process``), then the worker has imported what the pool process's HTTP
client needs, and its objects are frozen out of the garbage collector: the pool process
shares those modules and its collections leave the pages it shares with the worker alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc
    import sys
    import worker.celery
    from celery import signals

    before = gc.get_freeze_count()
    imported = "httpcore" in sys.modules or "h11" in sys.modules
    signals.worker_before_create_process.send(sender=None)
    transport = "httpcore" in sys.modules and "h11" in sys.modules
    print(before, gc.get_freeze_count(), len(gc.get_objects()), int(imported), int(transport))
    """
)


def test_the_worker_freezes_its_objects_before_forking_a_pool_process() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELOAD_", "CELERY_"))}
    env["MODELSLAB_API_KEY"] = "unused-key"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    before, after, tracked, imported, transport = (int(x) for x in done.stdout.split())
    assert before == 0
    # httpx imports its transport (httpcore, h11) on a client's first use: before the fork.
    assert not imported and transport
    # Every object the worker had (its modules, the app, the settings) is frozen; what the
    # collector still tracks is only what was made since.
    assert after > 50_000
    assert tracked < after / 10
