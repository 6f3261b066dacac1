"""The simulated models: which exist, which are warm, and how a reload runs.

Every id exists except those in ``config.unknown``; which start warm: :func:`initially_warm`.
Nothing runs in the background: a model's state is derived, whenever asked, from the time
its reload ends (:meth:`ModelBook.call`). Idle eviction is not simulated: a warm model stays
warm.
"""

from __future__ import annotations

import enum
import hashlib
import heapq
import random
from dataclasses import dataclass

from sandbox.sim.clock import Clock
from sandbox.sim.config import SimConfig


class State(enum.StrEnum):
    """What a model is, as ``GET /_sim/models/{id}`` reports it."""

    COLD = "cold"
    LOADING = "loading"
    WARM = "warm"
    UNKNOWN = "unknown"


class Outcome(enum.Enum):
    """What a reload call did to a model."""

    STARTED = "started"  # it was cold; a reload began
    LOADING = "loading"  # a reload is under way
    WARM = "warm"  # it is loaded
    UNKNOWN = "unknown"  # no such model


@dataclass(frozen=True, slots=True)
class Touch:
    """The outcome of one call, with the real seconds left while loading."""

    outcome: Outcome
    eta: float | None = None


@dataclass(slots=True)
class _Model:
    ready_at: float | None  # monotonic time it is (or was) warm; None while cold
    warm_at: float | None = None  # Unix time its last reload ends
    owner: str | None = None  # label of the key that started its last reload
    reloads: int = 0


def initially_warm(config: SimConfig, model_id: str) -> bool:
    """Whether ``model_id`` starts warm: listed in ``warm`` or chosen by ``warm_fraction``.

    Chosen when a hash of the seed and the id falls below ``warm_fraction``, so the choice is
    stable across runs and resets; every other model starts cold.

    Parameters:
        config: the simulator's settings.
        model_id: the model.
    """
    if model_id in config.warm:
        return True
    if config.warm_fraction <= 0.0:
        return False
    digest = hashlib.sha256(f"{config.seed}\0{model_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < config.warm_fraction


class ModelBook:
    """The state of every model called so far; models never called are in their initial state.

    Parameters:
        config: the simulator's settings (the simulator replaces it on a reconfigure).
        clock: the time source.
        rng: the random source of the reloads' jitter.
    """

    def __init__(self, config: SimConfig, clock: Clock, rng: random.Random) -> None:
        self.config = config
        self._clock = clock
        self._rng = rng
        self._models: dict[str, _Model] = {}
        self._loading_ends: dict[str, list[float]] = {}  # owner label -> heap of ready_at

    def call(self, model_id: str, owner: str) -> Touch:
        """A reload call for ``model_id`` by the key labelled ``owner``.

        A call to a cold model starts a reload that lasts ``reload_seconds * (1 + U(-jitter,
        jitter))`` simulated seconds (:meth:`reload_seconds`); the model is loading until then
        and warm afterwards.

        Parameters:
            model_id: the model called.
            owner: the calling key's label; a reload it starts counts as its loading model.

        Returns:
            What the call did, with the real seconds left when it started or found a reload.
        """
        config = self.config
        if model_id in config.unknown:
            return Touch(Outcome.UNKNOWN)
        now = self._clock.monotonic()
        model = self._models.get(model_id)
        if model is None:
            model = self._models[model_id] = self._initial(model_id)
        if model.ready_at is None:
            return Touch(Outcome.STARTED, self._start(model, owner, now))
        if now < model.ready_at:
            return Touch(Outcome.LOADING, model.ready_at - now)
        return Touch(Outcome.WARM)

    def state(self, model_id: str) -> dict[str, object]:
        """What ``GET /_sim/models/{id}`` shows; does not change the model."""
        if model_id in self.config.unknown:
            return {"model_id": model_id, "exists": False, "state": State.UNKNOWN.value}
        model = self._models.get(model_id) or self._initial(model_id)
        now = self._clock.monotonic()
        eta: float | None = None
        if model.ready_at is None:
            state = State.COLD
        elif now < model.ready_at:
            state, eta = State.LOADING, model.ready_at - now
        else:
            state = State.WARM
        return {
            "model_id": model_id,
            "exists": True,
            "state": state.value,
            "eta": eta,
            "reloads_started": model.reloads,
            "warm_at": model.warm_at,
            "owner": model.owner,
        }

    def loading_owned(self, owner: str) -> int:
        """How many models whose reload ``owner`` started are still loading."""
        ends = self._loading_ends.get(owner)
        if not ends:
            return 0
        now = self._clock.monotonic()
        while ends and ends[0] <= now:
            heapq.heappop(ends)
        return len(ends)

    def warm_times(self) -> dict[str, float]:
        """Unix time each reloaded model became warm, for reloads that have finished."""
        now = self._clock.monotonic()
        return {
            model_id: model.warm_at
            for model_id, model in self._models.items()
            if model.warm_at is not None and model.ready_at is not None and model.ready_at <= now
        }

    def reload_seconds(self) -> float:
        """Draw the real duration of one reload (jitter applied, time scale applied)."""
        config = self.config
        factor = 1.0 + self._rng.uniform(-config.jitter, config.jitter) if config.jitter else 1.0
        return config.scaled(config.reload_seconds * factor)

    def _initial(self, model_id: str) -> _Model:
        return _Model(ready_at=float("-inf") if initially_warm(self.config, model_id) else None)

    def _start(self, model: _Model, owner: str, now: float) -> float:
        duration = self.reload_seconds()
        model.ready_at = now + duration
        model.warm_at = self._clock.time() + duration
        model.owner = owner
        model.reloads += 1
        heapq.heappush(self._loading_ends.setdefault(owner, []), model.ready_at)
        return duration
