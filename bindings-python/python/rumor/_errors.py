"""Rumor's exceptions. The native module raises these (bindings-python/src/errors.rs)."""

from __future__ import annotations


class RumorError(Exception):
    """Base of every error Rumor raises."""


class ConfigError(RumorError, ValueError):
    """A configuration value was refused; nothing was started or changed."""

    def __init__(self, message: str, field: str, value: str, reason: str) -> None:
        super().__init__(message)
        self.field = field
        """The refused field (`bind`, `name`, `preset`, `keyring`, `meta`, ...)."""
        self.value = value
        """The value given, as text."""
        self.reason = reason
        """Why it was refused."""


class KeyringError(RumorError, KeyError):
    """A key operation was refused (an unknown key, removing the primary, a malformed key);
    the keyring is unchanged."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MetaError(RumorError, ValueError):
    """Metadata that does not fit once encoded, or bytes that are not Rumor metadata."""


class NodeError(RumorError):
    """The node refused a command (a broadcast too large, a command while leaving, ...);
    nothing changed."""


class BindError(RumorError, OSError):
    """The UDP socket could not be bound; nothing was started."""


class AgentClosed(RumorError):
    """The agent has stopped (it left or was closed); the command was not run."""


class DecodeError(RumorError, ValueError):
    """Bytes that are not a valid Rumor frame or body (or a key or label that does not open
    it). `kind` is the core's name for why: `BadMagic`, `Truncated`, `WrongLabel`, ... as in
    tests/vectors/wire.json."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind
