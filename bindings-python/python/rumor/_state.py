"""`State`, a member's liveness, as a Python enum (the native module returns its members)."""

import enum


class State(enum.Enum):
    """A member's liveness in one node's view. `str(state)` is its name: `"alive"`, ..."""

    ALIVE = "alive"
    SUSPECT = "suspect"
    FAILED = "failed"
    LEFT = "left"

    def __str__(self) -> str:
        return self.value
