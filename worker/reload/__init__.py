"""One model's reload: the state machine, flights, backoff.

``reloader`` advances one model step by step (call, poll while loading, confirm, fail); a
``flight`` makes every task asking for the same model share one reload; ``backoff`` decides
every wait; ``scripts`` holds their Lua.
"""
