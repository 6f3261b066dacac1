"""The contenders: this project, a hand-written asyncio peer, naive Celery.

Each ``run(scenario, ...)`` starts its own processes against a simulator it is
given, warms the models and returns a :class:`bench.measure.RunResult`.
"""
