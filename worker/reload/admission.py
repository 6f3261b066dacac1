"""What a parked reload needs before the pump publishes it: a limiter grant, taken ahead.

A ``reload_model`` task that parks says what its next step will ask of the limiter
(``Needs``: whether the call confirms a reload the upstream has, and the slot it holds). When
the job is due, the pump asks the limiter on its behalf (``PumpAdmission.admit``): granted,
the task is published and its ``acquire`` picks the grant up; refused, the job stays parked
until the limiter's turn for it, and no task execution is spent on asking. On each heartbeat
the pump also hands every free slot to the first task in line for one
(``PumpAdmission.free_slots``) and wakes it.

Why: docs/decisions/0018-the-pump-asks-the-limiter-first.md
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.limiter import Go, Limiter
from worker.messaging.parking import Job

__all__ = ["Needs", "PumpAdmission", "admit"]


@dataclass(frozen=True)
class Needs:
    """What the next step of a parked reload asks of the limiter.

    Parameters:
        confirming: the call confirms a reload the upstream accepted or reported loading
            (``Limiter.acquire(confirming=...)``).
        hold: the lease of the slot the model keeps while it loads
            (``RELOAD_LOADING_HOLDS_SLOT``), or ``""``.
    """

    confirming: bool = False
    hold: str = ""

    def to_admission(self) -> dict[str, Any]:
        """As the parked job's admission (``worker.messaging.parking.Job.admission``)."""
        return {"confirming": self.confirming, "hold": self.hold}

    @classmethod
    def from_admission(cls, admission: dict[str, Any]) -> Needs:
        """Read back a parked job's admission; unknown or missing fields take defaults."""
        return cls(bool(admission.get("confirming")), str(admission.get("hold") or ""))


def admit(limiter: Limiter, task_id: str, priority: str, admission: dict[str, Any]) -> float:
    """Take, for a due task, the grant its next step will ask for.

    Parameters:
        limiter: the account's limiter.
        task_id: the parked task (the limiter's caller).
        priority: the task's priority, ``"high"`` or ``"normal"``.
        admission: its job's admission (``Needs.to_admission``).

    Returns:
        0.0 when the grant is taken (publish the task: its ``acquire`` picks the grant up
        within ``Limiter.ahead_seconds``) or the key's breaker is open (publish it: it asks
        the breaker), else the seconds until the limiter's turn for it.
    """
    needs = Needs.from_admission(admission)
    decision = limiter.acquire(
        hold=needs.hold or None,
        priority=priority if priority in ("high", "normal") else "normal",
        caller=task_id,
        confirming=needs.confirming,
        ahead=limiter.ahead_seconds,
    )
    if isinstance(decision, Go) or decision.reason == "breaker":
        return 0.0  # the key's breaker is open: the task asks it, and waits for its probe
    return decision.seconds


class PumpAdmission:
    """The pump's side of the limiter (``worker.messaging.pump.Admission``).

    Parameters:
        limiter: the account's limiter.
    """

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    def admit(self, job: Job) -> float:
        """``admit`` for a due parked ``reload_model`` (its priority from its arguments).

        Returns:
            0.0 to publish it now, else the seconds until the limiter's turn for it.
        """
        priority = str(job.kwargs.get("priority") or "normal")
        return admit(self.limiter, job.task_id, priority, job.admission or {})

    def free_slots(self) -> list[str]:
        """Hand every free slot to the first task in line for one (``Limiter.hand_free_slots``).

        Returns:
            The tasks handed a slot: the pump wakes them.
        """
        return self.limiter.hand_free_slots()
