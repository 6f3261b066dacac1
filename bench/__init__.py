"""Benchmarks: bulk warmup time against the upstream's limits, an asyncio peer and naive Celery.

``python -m bench [--quick]`` (``make bench``) runs every scenario of
:mod:`bench.scenarios` against the project's simulator and writes
``bench/results/latest.{json,md,png}``. See ``bench/README.md``.
"""
