"""How long each provider keeps a job in each status.

Jobs move through their statuses on the wall clock. The durations come from
``SANDBOX_<PROVIDER>_<PHASE>_S`` environment variables, can be changed at run
time through ``/_sandbox/config``, and default to a few seconds so a demo
finishes quickly.
"""

import os
import threading
import time

DEFAULT_PHASE_S = {
    "openai": {"validating": 1.0, "in_progress": 2.0, "finalizing": 1.0},
    "cohere": {"validating": 1.0, "processing": 3.0, "cancelling": 1.0},
    "sagemaker": {"in_progress": 3.0, "stopping": 1.0},
    "bedrock": {
        "submitted": 0.5,
        "validating": 0.5,
        "scheduled": 0.5,
        "in_progress": 2.0,
        "stopping": 1.0,
    },
}


class Clock:
    """Phase durations per provider, safe to change while jobs run."""

    def __init__(self, environ=os.environ):
        self._lock = threading.Lock()
        self._phases = {p: dict(d) for p, d in DEFAULT_PHASE_S.items()}
        for provider, phases in self._phases.items():
            for phase in phases:
                raw = environ.get(f"SANDBOX_{provider.upper()}_{phase.upper()}_S")
                if raw is not None:
                    phases[phase] = float(raw)

    def duration(self, provider: str, phase: str) -> float:
        with self._lock:
            return self._phases[provider][phase]

    def update(self, provider: str, phases: dict[str, float]) -> None:
        with self._lock:
            known = self._phases[provider]
            for phase, seconds in phases.items():
                if phase not in known:
                    raise KeyError(phase)
                known[phase] = float(seconds)

    def snapshot(self) -> dict:
        with self._lock:
            return {p: dict(d) for p, d in self._phases.items()}

    @staticmethod
    def now() -> float:
        return time.time()


def phase_at(elapsed_s: float, phases: list[tuple[str, float]], last: str) -> str:
    """Return the phase a job is in ``elapsed_s`` after it started."""
    for name, seconds in phases:
        if elapsed_s < seconds:
            return name
        elapsed_s -= seconds
    return last
