"""How Celery's messages, parked waits and results live in Redis.

``task.ParkingTask`` parks sends and waits (``parking``); a ``pump`` per worker publishes them
when due; ``broker``, ``results``, ``deadletter`` and ``strays`` shape Celery's Redis side.
"""
