# Type stubs of the native module `rumor._rumor` (bindings-python/src/). Everything here is
# re-exported by `rumor` (python/rumor/__init__.py); import from there.
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Final, Union, final

from ._state import State

__all__ = [
    "Agent",
    "Event",
    "EventStream",
    "Joined",
    "LeaveComplete",
    "Member",
    "MemberAlive",
    "MemberFailed",
    "MemberJoined",
    "MemberLeft",
    "MemberSuspect",
    "MemberUpdated",
    "NameConflict",
    "Node",
    "PRESETS",
    "STATUS_NAMES",
    "Transmit",
    "UserEvent",
    "__version__",
    "_drain",
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
__version__: Final[str]
PRESETS: Final[tuple[str, ...]]
"""The timing presets' names: `"lan"`, `"wan"`, `"local"`."""
STATUS_NAMES: Final[tuple[str, ...]]
"""The core's names of member states, the values of `State`."""

# --- members and events ------------------------------------------------------------------

@final
class Member:
    """A member as one node sees it. Immutable; `==` compares every field."""
    @property
    def name(self) -> str: ...
    @property
    def addr(self) -> str:
        """`"ip:port"` (`"[v6]:port"`)."""
    @property
    def state(self) -> State: ...
    @property
    def incarnation(self) -> int: ...
    @property
    def meta(self) -> dict[str, str]:
        """A copy of the member's metadata (empty if it is not a Rumor string map)."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class MemberJoined:
    """A member became alive: new, or back after failing or leaving."""
    __match_args__ = ("member",)
    @property
    def member(self) -> Member: ...
@final
class MemberUpdated:
    """An alive member changed its metadata or address."""
    __match_args__ = ("member",)
    @property
    def member(self) -> Member: ...
@final
class MemberSuspect:
    """A member is suspected of having failed."""
    __match_args__ = ("member",)
    @property
    def member(self) -> Member: ...
@final
class MemberAlive:
    """A suspect member refuted the suspicion."""
    __match_args__ = ("member",)
    @property
    def member(self) -> Member: ...
@final
class MemberFailed:
    """A member was declared failed."""
    __match_args__ = ("member",)
    @property
    def member(self) -> Member: ...
@final
class MemberLeft:
    """A member left gracefully."""
    __match_args__ = ("member",)
    @property
    def member(self) -> Member: ...
@final
class UserEvent:
    """A user event (`Agent.broadcast`, `rumor event NAME PAYLOAD`) from `origin`."""
    __match_args__ = ("origin", "name", "payload")
    @property
    def origin(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
@final
class NameConflict:
    """Another address claims a live member's name; the known address is kept."""
    __match_args__ = ("name", "known", "claimed")
    @property
    def name(self) -> str: ...
    @property
    def known(self) -> str: ...
    @property
    def claimed(self) -> str: ...
@final
class Joined:
    """This node is part of a cluster (a seed answered)."""
@final
class LeaveComplete:
    """This node's leave finished; `acknowledged` members confirmed it."""
    __match_args__ = ("acknowledged",)
    @property
    def acknowledged(self) -> int: ...

Event = Union[
    MemberJoined, MemberUpdated, MemberSuspect, MemberAlive, MemberFailed, MemberLeft,
    UserEvent, NameConflict, Joined, LeaveComplete,
]

# --- the agent ------------------------------------------------------------------------------

@final
class EventStream:
    """Events of one agent from the moment `Agent.events()` was called, in order. Iterate it
    with `async for` (cancellable) or, in threaded code, with `for` (the GIL is released while
    waiting; iteration ends after `timeout` seconds without an event, or when the agent stops).
    A stream that falls more than 256 events behind skips the oldest (`missed` counts them)."""
    @property
    def missed(self) -> int: ...
    def __aiter__(self) -> AsyncIterator[Event]: ...
    async def __anext__(self) -> Event: ...
    def __iter__(self) -> Iterator[Event]: ...
    def __next__(self) -> Event: ...

@final
class Agent:
    """A Rumor agent: the protocol over UDP, run by a tokio runtime on threads the extension
    owns. `Agent(...)` checks the configuration (raising `ConfigError`) without starting;
    `async with Agent(...) as agent` starts it and, on exit, leaves gracefully and stops it;
    `Agent.start(...)` is the blocking start for threaded code (then `close()`)."""
    def __new__(
        cls,
        name: str,
        bind: str = "0.0.0.0:7946",
        *,
        join: Sequence[str] = (),
        advertise: str | None = None,
        keyring: Sequence[str | bytes] = (),
        label: str = "",
        meta: Mapping[str, str] | None = None,
        preset: str = "lan",
        lifeguard: bool = True,
        accept_plaintext: bool = False,
        send_plaintext: bool = False,
    ) -> Agent: ...
    @classmethod
    def start(
        cls,
        name: str,
        bind: str = "0.0.0.0:7946",
        *,
        join: Sequence[str] = (),
        advertise: str | None = None,
        keyring: Sequence[str | bytes] = (),
        label: str = "",
        meta: Mapping[str, str] | None = None,
        preset: str = "lan",
        lifeguard: bool = True,
        accept_plaintext: bool = False,
        send_plaintext: bool = False,
    ) -> Agent:
        """Starts an agent and returns it running (blocking)."""
    async def __aenter__(self) -> Agent: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def __enter__(self) -> Agent: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    @property
    def name(self) -> str: ...
    @property
    def addr(self) -> str:
        """The address other members reach this agent at (`"ip:port"`)."""
    @property
    def local_addr(self) -> str:
        """The UDP address actually bound (useful with port 0)."""
    @property
    def running(self) -> bool:
        """Started and not yet stopped."""
    @property
    def max_event_len(self) -> int:
        """The largest `len(name) + 1 + len(payload)` `broadcast` accepts."""

    def members(self) -> list[Member]:
        """Every member this agent knows, itself included, sorted by name."""
    def events(self, timeout: float | None = None) -> EventStream:
        """The events from now on; `timeout` only bounds the waits of plain (`for`) iteration."""
    def stats(self) -> dict[str, int]:
        """The core's counters (`packets_in`, `probes_sent`, `suspicions_raised`, …), the member
        counts (`members_alive`, `members_suspect`, `members_failed`, `members_left`),
        `health_score` and `gossip_queue`."""
    def keys(self) -> list[str]:
        """The keyring in base64, primary first."""
    def install_key(self, key: str | bytes) -> list[str]:
        """Adds a key (accepted on receipt, not used to send); returns the keyring."""
    def use_key(self, key: str | bytes) -> list[str]:
        """Makes an installed key the one packets are sealed with; returns the keyring."""
    def remove_key(self, key: str | bytes) -> list[str]:
        """Removes a key that is not the primary; returns the keyring."""

    async def set_meta(self, meta: Mapping[str, str]) -> None:
        """Replaces this agent's metadata; gossiped to every member."""
    async def broadcast(self, name: str, payload: bytes = b"") -> None:
        """Sends a user event to every member (delivered as `UserEvent`)."""
    async def leave(self) -> int:
        """Leaves gracefully and stops; returns how many members acknowledged."""
    def set_meta_sync(self, meta: Mapping[str, str]) -> None: ...
    def broadcast_sync(self, name: str, payload: bytes = b"") -> None: ...
    def leave_sync(self) -> int: ...
    def close(self) -> None:
        """Stops at once without leaving (others will detect it as failed). Idempotent; also
        done when the agent is garbage-collected."""

# --- the sans-IO node ---------------------------------------------------------------------

@final
class Transmit:
    """A datagram to send: `destination` (`"ip:port"`) and `data`."""
    __match_args__ = ("destination", "data")
    @property
    def destination(self) -> str: ...
    @property
    def data(self) -> bytes: ...

@final
class Node:
    """The protocol core itself, for callers with their own loop and transport: feed it
    datagrams and timeouts, send what `poll_transmit` gives, read `poll_event`. Time is float
    seconds on any monotonic clock the caller chooses (e.g. `time.monotonic()`)."""
    def __new__(
        cls,
        name: str,
        addr: str,
        now: float,
        *,
        keyring: Sequence[str | bytes] = (),
        label: str = "",
        meta: Mapping[str, str] | None = None,
        preset: str = "lan",
        lifeguard: bool = True,
        seed: bytes | None = None,
    ) -> Node: ...
    @property
    def name(self) -> str: ...
    @property
    def addr(self) -> str: ...
    @property
    def is_joined(self) -> bool: ...
    def join(self, seeds: Sequence[str], now: float) -> None: ...
    def handle_datagram(self, now: float, source: str, data: bytes) -> None: ...
    def handle_timeout(self, now: float) -> None: ...
    def poll_transmit(self, now: float) -> Transmit | None: ...
    def poll_event(self) -> Event | None: ...
    def poll_timeout(self) -> float | None:
        """When `handle_timeout` is next due (same clock as `now`), or None."""
    def set_meta(self, meta: Mapping[str, str], now: float) -> None: ...
    def broadcast(self, name: str, payload: bytes, now: float) -> None: ...
    def leave(self, now: float) -> None: ...
    def members(self) -> list[Member]: ...
    def stats(self) -> dict[str, int]: ...
    def keys(self) -> list[str]: ...
    def install_key(self, key: str | bytes) -> None: ...
    def use_key(self, key: str | bytes) -> None: ...
    def remove_key(self, key: str | bytes) -> None: ...

# --- codecs and keys ------------------------------------------------------------------------

def _drain() -> None:
    """Waits (at exit) until no coroutine of this module is handing a result to asyncio."""
def generate_key() -> str:
    """A new random key, base64 (as `rumor keygen` prints)."""
def encode_meta(meta: Mapping[str, str], max_len: int | None = None) -> bytes: ...
def decode_meta(data: bytes) -> dict[str, str]: ...
def encode_user_event(name: str, payload: bytes) -> bytes: ...
def decode_user_event(data: bytes) -> tuple[str, bytes]: ...
def decode_body(body: bytes) -> tuple[list[dict[str, object]], int]:
    """A frame body's messages (each a dict with `type` and its fields, as in
    tests/vectors/wire.json) and how many of unknown types were skipped."""
def encode_body(messages: Sequence[Mapping[str, object]]) -> bytes:
    """The body holding `messages` (dicts as `decode_body` gives them)."""
def decode_frame(
    frame: bytes, keys: Sequence[str | bytes] = (), label: str = ""
) -> tuple[dict[str, object], bytes]:
    """Opens a frame as a receiver with `keys` (empty: plaintext) and `label`: its header
    (`encrypted`, `key_id`, `nonce`, `len`) and its body."""
def encode_frame(body: bytes, label: str = "", key: str | bytes | None = None, nonce: bytes | None = None) -> bytes:
    """A frame around `body`, sealed with `key` and the 12-byte `nonce` if given."""
