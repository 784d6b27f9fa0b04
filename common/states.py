"""Task states, as ML Commons names them, and which of them are final."""

from enum import StrEnum


class TaskState(StrEnum):
    CREATED = "CREATED"  # stored, submit queued, no remote job known yet
    RUNNING = "RUNNING"  # the provider holds a job for the task
    CANCELLING = "CANCELLING"  # cancel asked for, the provider not yet done
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_ERROR = "COMPLETED_WITH_ERROR"  # finished, some records failed
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"  # the provider's window closed first
    UNREACHABLE = "UNREACHABLE"  # the provider could not be reached N times


#: States a task never leaves.
TERMINAL_STATES = frozenset(
    {
        TaskState.COMPLETED,
        TaskState.COMPLETED_WITH_ERROR,
        TaskState.FAILED,
        TaskState.CANCELLED,
        TaskState.EXPIRED,
        TaskState.UNREACHABLE,
    }
)

#: States that count against the active-task limit and get refreshed.
ACTIVE_STATES = frozenset({TaskState.CREATED, TaskState.RUNNING, TaskState.CANCELLING})


def is_terminal(state: str) -> bool:
    return state in TERMINAL_STATES
