"""The simulated upstream, without HTTP: one call in, one :class:`Reply` out.

:meth:`Simulator.begin` records the arrival, then draws a fault, checks the body, key and
``model_id`` (400/401) and admits the call under the key's limits (429); an admitted call ends
in :meth:`Simulator.finish` (404, ``success`` or ``processing``; its slot freed) or
:meth:`Simulator.abandon`. The server waits :meth:`Simulator.latency` between the two.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass

from sandbox.sim import faults, replies
from sandbox.sim.calls import CallLog, key_label
from sandbox.sim.clock import Clock, SystemClock
from sandbox.sim.config import SimConfig
from sandbox.sim.limits import Limits, Refusal
from sandbox.sim.models import ModelBook, Outcome
from sandbox.sim.replies import Reply


@dataclass(frozen=True, slots=True)
class Run:
    """The state of one run, from start or ``reset()`` to the next ``reset()``."""

    ledger: CallLog
    limits: Limits
    models: ModelBook


@dataclass(slots=True)
class Ticket:
    """An admitted call: it holds one slot of its key until finished or abandoned.

    It belongs to the run it was admitted in: a call in flight across a reset
    is answered from, and recorded in, the state that was reset, not the new one.
    """

    label: str
    model_id: str
    run: Run
    open: bool = True


class Simulator:
    """Models, limits, faults and the ledger of one simulated upstream.

    Parameters:
        config: the simulator's settings.
        clock: the time source (``None``: :class:`~sandbox.sim.clock.SystemClock`).
    """

    def __init__(self, config: SimConfig, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._config = config
        self._keys = frozenset(config.keys)
        self._fault_table = faults.fault_table(config.faults)
        self.reset()

    @property
    def config(self) -> SimConfig:
        """The config in force."""
        return self._config

    def reset(self) -> None:
        """Forget every call: models back to their initial state, an empty ledger, RNGs reseeded.

        The config in force (including run-time changes) is kept.
        """
        seed = self._config.seed
        self._fault_rng = random.Random(f"{seed}:faults")
        self._model_fault_rngs: dict[str, random.Random] = {}
        self._rng = random.Random(f"{seed}:timing")
        self._run = Run(
            CallLog(self.clock), Limits(), ModelBook(self._config, self.clock, self._rng)
        )

    @property
    def ledger(self) -> CallLog:
        """The ledger of the current run."""
        return self._run.ledger

    @property
    def limits(self) -> Limits:
        """The per-key limits of the current run."""
        return self._run.limits

    @property
    def models(self) -> ModelBook:
        """The models of the current run."""
        return self._run.models

    def reconfigure(self, changes: Mapping[str, object]) -> SimConfig:
        """Apply run-time changes (``POST /_sim/config``).

        Parameters:
            changes: field name -> JSON value, as :meth:`SimConfig.updated` takes them.

        Returns:
            The new config, in force from the next call.

        Raises:
            SimConfigError: an unknown or fixed field, or a bad value (nothing changes).
        """
        config = self._config.updated(changes)
        self._config = config
        self.models.config = config
        self._fault_table = faults.fault_table(config.faults)
        return config

    def _fault_stream(self, model_id: object) -> random.Random:
        """The random source that decides whether a call of this model is faulted.

        Each model id has its own stream, seeded from the seed and the id, so the n-th call
        of a model draws the same fault in every run with that seed, however the calls of
        different models interleave. Calls without a usable id share one stream.
        """
        if not isinstance(model_id, str) or not model_id:
            return self._fault_rng
        stream = self._model_fault_rngs.get(model_id)
        if stream is None:
            stream = random.Random(f"{self._config.seed}:faults:{model_id}")
            self._model_fault_rngs[model_id] = stream
        return stream

    def begin(self, raw: bytes) -> Reply | Ticket:
        """Receive one reload call.

        Parameters:
            raw: the request's body, as received.

        Returns:
            The reply at once (a fault, 400, 401 or 429), or a :class:`Ticket` if admitted,
            which the server ends with :meth:`finish` or :meth:`abandon`.
        """
        now, wall = self.clock.monotonic(), self.clock.time()
        run = self._run
        try:
            data = json.loads(raw)
        except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
            data = None
        key = model_id = None
        if isinstance(data, dict):
            key = data.get("key")
            model_id = data.get("model_id")
        label = key_label(key)
        ledger = run.ledger
        named = model_id if isinstance(model_id, str) and model_id else None
        ledger.arrival(now, label, named, wall=wall)

        fault = faults.pick(self._fault_table, self._fault_stream(model_id))
        if fault is not None:
            ledger.fault(fault)
            return _answered(ledger, faults.reply(fault, self._config, self._fault_rng))
        if not isinstance(data, dict):
            return _answered(ledger, replies.NOT_JSON)
        if not isinstance(key, str) or key not in self._keys:
            invalid = replies.INVALID_KEY
            return _answered(
                ledger, replies.on_200(invalid) if self._config.errors_on_200 else invalid
            )
        if model_id is None or model_id == "":
            return _answered(ledger, replies.MODEL_ID_REQUIRED)
        if not isinstance(model_id, str):
            return _answered(ledger, replies.MODEL_ID_NOT_STRING)

        config = self._config
        loading = run.models.loading_owned(label) if config.loading_counts else 0
        refusal = run.limits.admit(label, now, config, loading)
        if refusal is not None:
            return _answered(ledger, self._refused(refusal))
        concurrent = run.limits.in_flight[label]
        ledger.occupancy(label, concurrent, concurrent + loading)
        return Ticket(label, model_id, run)

    def finish(self, ticket: Ticket) -> Reply:
        """Answer an admitted call from the model's state, and free its slot."""
        self.abandon(ticket)
        run = ticket.run
        touch = run.models.call(ticket.model_id, ticket.label)
        if touch.outcome is Outcome.STARTED:
            run.ledger.reload_started(ticket.model_id)
            reply = replies.STARTED
        elif touch.outcome is Outcome.LOADING:
            reply = replies.loading(touch.eta if self._config.eta else None)
        elif touch.outcome is Outcome.WARM:
            reply = replies.WARM
        else:
            reply = replies.unknown_model(ticket.model_id)
            if self._config.errors_on_200:
                reply = replies.on_200(reply)
        return _answered(run.ledger, reply)

    def abandon(self, ticket: Ticket) -> None:
        """Free an admitted call's slot without answering it; a second call does nothing."""
        if ticket.open:
            ticket.open = False
            ticket.run.limits.release(ticket.label)

    def latency(self) -> float:
        """Draw the real seconds to wait before answering a call (0 when no latency is set)."""
        config = self._config
        seconds = config.latency
        if config.latency_jitter:
            seconds = max(
                0.0,
                self._rng.uniform(seconds - config.latency_jitter, seconds + config.latency_jitter),
            )
        return config.scaled(seconds) if seconds else 0.0

    def snapshot(self) -> dict[str, object]:
        """The ledger, as ``GET /_sim/ledger`` returns it."""
        return self.ledger.snapshot(self.models.warm_times())

    def _refused(self, refusal: Refusal) -> Reply:
        config = self._config
        retry_after = config.scaled(config.retry_after)
        if refusal is Refusal.QUEUE:
            message = f"Rate limit exceeded. Maximum {config.queue_limit} queued requests allowed."
            return replies.rate_limited("rate_limited", message, retry_after)
        message = f"Rate limit exceeded. Maximum {config.rps_limit} requests per second allowed."
        return replies.rate_limited("rate_limited_rps", message, retry_after)


def _answered(ledger: CallLog, reply: Reply) -> Reply:
    ledger.answer(reply.kind, reply.status)
    return reply
