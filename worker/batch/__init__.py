"""Many models: a batch's ledger, its completion, webhook and cancel, and keep-warm.

``ledger`` keeps each model's state in a batch (and cancels it); ``completion`` checks a request
and completes a batch exactly once; ``outbox`` and ``webhook`` deliver its summary;
``reconcile`` keeps it from hanging; ``keepwarm`` picks models to warm again; Lua: ``scripts``.
"""
