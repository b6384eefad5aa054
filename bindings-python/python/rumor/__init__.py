"""Rumor: cluster membership and failure detection (SWIM with Lifeguard) over UDP gossip.

`Agent` runs a member of a cluster in this process (asyncio or threads); `Node` is the
protocol core itself for callers with their own loop and transport. Both are the Rust core of
every Rumor runtime (bindings-python/ wraps it with pyo3): same wire format, same rules.
"""

from ._rumor import (
    PRESETS,
    STATUS_NAMES,
    Agent,
    Event,
    EventStream,
    Joined,
    LeaveComplete,
    Member,
    MemberAlive,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberSuspect,
    MemberUpdated,
    NameConflict,
    Node,
    Transmit,
    UserEvent,
    __version__,
    decode_body,
    decode_frame,
    decode_meta,
    decode_user_event,
    encode_body,
    encode_frame,
    encode_meta,
    encode_user_event,
    generate_key,
)
import atexit as _atexit

from . import _rumor
from ._errors import (
    AgentClosed,
    BindError,
    ConfigError,
    DecodeError,
    KeyringError,
    MetaError,
    NodeError,
    RumorError,
)
from ._state import State

__all__ = [
    "PRESETS",
    "STATUS_NAMES",
    "Agent",
    "AgentClosed",
    "BindError",
    "ConfigError",
    "DecodeError",
    "Event",
    "EventStream",
    "Joined",
    "KeyringError",
    "LeaveComplete",
    "Member",
    "MemberAlive",
    "MemberFailed",
    "MemberJoined",
    "MemberLeft",
    "MemberSuspect",
    "MemberUpdated",
    "MetaError",
    "NameConflict",
    "Node",
    "NodeError",
    "RumorError",
    "State",
    "Transmit",
    "UserEvent",
    "__version__",
    "decode_body",
    "decode_frame",
    "decode_meta",
    "decode_user_event",
    "encode_body",
    "encode_frame",
    "encode_meta",
    "encode_user_event",
    "generate_key",
]

# At exit, let coroutines that are finishing hand their results to asyncio before the
# interpreter shuts down (a runtime thread calling into a finalizing interpreter crashes it).
_atexit.register(_rumor._drain)
