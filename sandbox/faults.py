"""Switchable misbehaviour, per provider and per operation.

A test (or an operator trying things out) posts a rule to ``/_sandbox/faults``;
the provider module asks :func:`FaultBook.take` before it answers an operation
and renders the fault in its own wire format.
"""

import threading
from dataclasses import dataclass, field

#: What a rule can make the sandbox do.
#: throttle -- answer with the provider's throttling error (HTTP 429 or its
#:             own code), with ``retry_after_s`` where the provider sends one.
#: error    -- answer with ``status`` (default 500) and the provider's error body.
#: slow     -- sleep ``delay_s``; ``phase`` "after" does the operation first and
#:             holds the answer, "before" sleeps before doing anything.
#: fail     -- the job created by this operation ends failed.
#: expire   -- the job ends expired; ``succeed`` of its records still finish.
#: partial  -- the job completes with only ``succeed`` records succeeding.
FAULT_KINDS = ("throttle", "error", "slow", "fail", "expire", "partial")


@dataclass
class Fault:
    provider: str
    operation: str
    kind: str
    count: int | None = 1
    status: int = 500
    delay_s: float = 0.0
    phase: str = "after"
    retry_after_s: float | None = None
    succeed: int = 0
    message: str = ""
    code: str = ""


@dataclass
class FaultBook:
    """Thread-safe rules and per-operation call counters."""

    _rules: list[Fault] = field(default_factory=list)
    _calls: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._rules.append(fault)

    def take(self, provider: str, operation: str, kinds=None) -> Fault | None:
        """Return the first live rule for the operation and use up one count."""
        with self._lock:
            for rule in self._rules:
                if rule.provider != provider or rule.operation != operation:
                    continue
                if kinds is not None and rule.kind not in kinds:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                return rule
        return None

    def record_call(self, provider: str, operation: str) -> None:
        key = f"{provider}.{operation}"
        with self._lock:
            self._calls[key] = self._calls.get(key, 0) + 1

    def calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def rules(self) -> list[dict]:
        with self._lock:
            return [dict(vars(rule)) for rule in self._rules]

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
            self._calls.clear()
