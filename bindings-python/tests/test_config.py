"""Configuration errors name the field they refuse, the module's constants match the core's,
and no garbage argument crashes the interpreter (wrong types raise TypeError; nothing panics
or segfaults; the worst of it runs in a subprocess to be sure)."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import textwrap
from typing import Any, Callable

import pytest

import rumor
from conftest import scaled


def config_error(make: Callable[[], object]) -> rumor.ConfigError:
    with pytest.raises(rumor.ConfigError) as caught:
        make()
    err = caught.value
    assert isinstance(err, rumor.RumorError) and isinstance(err, ValueError)
    assert isinstance(err.field, str) and isinstance(err.value, str) and isinstance(err.reason, str)
    assert err.reason, "a ConfigError should say why"
    return err


# --- the module's constants ------------------------------------------------------------------


def test_state_values_are_the_core_status_names() -> None:
    assert [s.value for s in rumor.State] == list(rumor.STATUS_NAMES)
    assert [str(s) for s in rumor.State] == ["alive", "suspect", "failed", "left"]
    assert isinstance(rumor.STATUS_NAMES, tuple)


def test_presets() -> None:
    assert isinstance(rumor.PRESETS, tuple)
    assert "lan" in rumor.PRESETS
    assert set(rumor.PRESETS) == {"lan", "wan", "local"}


def test_version_and_exports() -> None:
    assert isinstance(rumor.__version__, str) and rumor.__version__
    for name in rumor.__all__:
        assert hasattr(rumor, name), name


def test_error_hierarchy() -> None:
    assert issubclass(rumor.RumorError, Exception)
    for cls, base in [
        (rumor.ConfigError, ValueError),
        (rumor.KeyringError, KeyError),
        (rumor.MetaError, ValueError),
        (rumor.BindError, OSError),
        (rumor.DecodeError, ValueError),
        (rumor.NodeError, rumor.RumorError),
        (rumor.AgentClosed, rumor.RumorError),
    ]:
        assert issubclass(cls, rumor.RumorError), cls
        assert issubclass(cls, base), (cls, base)


def test_generate_key() -> None:
    k = rumor.generate_key()
    assert isinstance(k, str)
    assert len(base64.b64decode(k, validate=True)) == 32
    assert rumor.generate_key() != k


# --- ConfigError names the field ---------------------------------------------------------------


@pytest.mark.parametrize("bind", ["not an address", "127.0.0.1", "127.0.0.1:99999", "", "[::1]"])
def test_bad_bind(bind: str) -> None:
    assert config_error(lambda: rumor.Agent("a", bind)).field == "bind"
    assert config_error(lambda: rumor.Agent.start("a", bind)).field == "bind"


def test_empty_name() -> None:
    assert config_error(lambda: rumor.Agent("", "127.0.0.1:0")).field == "name"


def test_name_too_long() -> None:
    assert config_error(lambda: rumor.Agent("n" * 65, "127.0.0.1:0")).field == "name"


def test_unknown_preset() -> None:
    err = config_error(lambda: rumor.Agent("a", "127.0.0.1:0", preset="fast"))
    assert err.field == "preset"
    assert err.value == "fast" or "fast" in str(err)


def test_bad_advertise() -> None:
    assert config_error(lambda: rumor.Agent("a", "127.0.0.1:0", advertise="nowhere")).field == "advertise"


def test_label_too_long() -> None:
    assert config_error(lambda: rumor.Agent("a", "127.0.0.1:0", label="L" * 65)).field == "label"


@pytest.mark.parametrize("bad", ["not base64!!", base64.b64encode(b"short").decode(), b"sixteen-bytes-xx", ""])
def test_bad_key(bad: str | bytes) -> None:
    with pytest.raises((rumor.KeyringError, rumor.ConfigError)) as caught:
        rumor.Agent("a", "127.0.0.1:0", keyring=[bad])
    if isinstance(caught.value, rumor.ConfigError):
        assert caught.value.field == "keyring"


def test_key_as_raw_bytes_or_base64() -> None:
    raw = bytes(range(32))
    text = base64.b64encode(raw).decode()
    assert rumor.Node("a", "127.0.0.1:1", 0.0, keyring=[raw]).keys() == [text]
    assert rumor.Node("a", "127.0.0.1:1", 0.0, keyring=[text]).keys() == [text]
    rumor.Agent("a", "127.0.0.1:0", keyring=[raw, rumor.generate_key()])


def test_meta_too_long() -> None:
    with pytest.raises((rumor.MetaError, rumor.ConfigError)) as caught:
        rumor.Agent("a", "127.0.0.1:0", meta={"k": "x" * 600})
    if isinstance(caught.value, rumor.ConfigError):
        assert caught.value.field == "meta"


@pytest.mark.parametrize(
    "field,make",
    [
        ("name", lambda: rumor.Node("", "127.0.0.1:1", 0.0)),
        ("name", lambda: rumor.Node("n" * 65, "127.0.0.1:1", 0.0)),
        ("preset", lambda: rumor.Node("a", "127.0.0.1:1", 0.0, preset="nope")),
        ("addr", lambda: rumor.Node("a", "nowhere", 0.0)),
        ("label", lambda: rumor.Node("a", "127.0.0.1:1", 0.0, label="L" * 65)),
    ],
    ids=["empty_name", "long_name", "preset", "addr", "label"],
)
def test_node_config_errors(field: str, make: Callable[[], object]) -> None:
    assert config_error(make).field == field


def test_agent_checks_without_starting() -> None:
    # `Agent(...)` only checks the configuration: even a taken port is fine until it starts.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        agent = rumor.Agent("a", bind, preset="local")
        assert not agent.running
        assert agent.name == "a"
        agent.close()


@pytest.mark.deadline(30)
def test_taken_port_raises_bind_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(rumor.BindError) as caught:
            rumor.Agent.start("a", bind, preset="local")
        assert isinstance(caught.value, OSError)


# --- wrong types ------------------------------------------------------------------------------

WRONG_TYPES: list[tuple[str, Callable[[], Any]]] = [
    ("Agent(name=123)", lambda: rumor.Agent(123, "127.0.0.1:0")),  # type: ignore[arg-type]
    ("Agent(bind=5)", lambda: rumor.Agent("a", 5)),  # type: ignore[arg-type]
    ("Agent(meta value int)", lambda: rumor.Agent("a", "127.0.0.1:0", meta={"k": 1})),  # type: ignore[dict-item]
    ("Agent(meta not a map)", lambda: rumor.Agent("a", "127.0.0.1:0", meta=[1, 2])),  # type: ignore[arg-type]
    ("Agent(keyring [1])", lambda: rumor.Agent("a", "127.0.0.1:0", keyring=[1])),  # type: ignore[list-item]
    ("Agent(join 7)", lambda: rumor.Agent("a", "127.0.0.1:0", join=7)),  # type: ignore[arg-type]
    ("Agent(preset None)", lambda: rumor.Agent("a", "127.0.0.1:0", preset=None)),  # type: ignore[arg-type]
    ("Node(now str)", lambda: rumor.Node("a", "127.0.0.1:1", "now")),  # type: ignore[arg-type]
    ("Node(addr None)", lambda: rumor.Node("a", None, 0.0)),  # type: ignore[arg-type]
    ("encode_meta(list)", lambda: rumor.encode_meta([("a", "b")])),  # type: ignore[arg-type]
    ("decode_meta(str)", lambda: rumor.decode_meta("00")),  # type: ignore[arg-type]
    ("decode_body(None)", lambda: rumor.decode_body(None)),  # type: ignore[arg-type]
    ("encode_body(5)", lambda: rumor.encode_body(5)),  # type: ignore[arg-type]
    ("encode_user_event(1, b'')", lambda: rumor.encode_user_event(1, b"")),  # type: ignore[arg-type]
    ("encode_user_event('n', 'str')", lambda: rumor.encode_user_event("n", "payload")),  # type: ignore[arg-type]
    ("decode_frame(str)", lambda: rumor.decode_frame("5255")),  # type: ignore[arg-type]
    ("encode_frame(body int)", lambda: rumor.encode_frame(5)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("call", [pytest.param(c, id=n) for n, c in WRONG_TYPES])
def test_wrong_types_raise_type_error(call: Callable[[], Any]) -> None:
    with pytest.raises(TypeError):
        call()


# --- garbage in a subprocess -------------------------------------------------------------------

GARBAGE = textwrap.dedent(
    r'''
    import math, random, sys
    import rumor

    random.seed(1234)
    ok = refused = 0

    def attempt(f, *args, **kwargs):
        """Any Exception is a fine answer to garbage; a panic (pyo3's PanicException is a
        BaseException) or a crash is not."""
        global ok, refused
        try:
            f(*args, **kwargs)
            ok += 1
        except Exception:
            refused += 1

    # Random bytes into every decoder.
    for i in range(20000):
        data = bytes(random.getrandbits(8) for _ in range(random.randrange(0, 80)))
        attempt(rumor.decode_body, data)
        attempt(rumor.decode_frame, data)
        attempt(rumor.decode_frame, b"RU\x01" + data, [bytes(32)], "prod")
        attempt(rumor.decode_meta, data)
        attempt(rumor.decode_user_event, data)

    # Messages with wrong, missing, out-of-range or extra fields.
    odd_values = [None, -1, 2**32, 2**64, 2**70, -2**63, 1.5, math.nan, "", "x" * 100, b"", b"\xff" * 600,
                  "999.1.1.1:1", "127.0.0.1:70000", "[::1]", [], {}, True]
    types = ["Ping", "Ack", "Nack", "PingReq", "Alive", "Suspect", "Dead", "Left", "User", "Sync", "Digest",
             "Nope", "", None, 3]
    fields = ["seq", "target", "addr", "nack", "name", "incarnation", "meta", "from", "origin", "id",
              "payload", "reply", "digest", "members"]
    for t in types:
        attempt(rumor.encode_body, [{"type": t}])
        for f in fields:
            for v in odd_values:
                attempt(rumor.encode_body, [{"type": t, f: v}])
                attempt(rumor.encode_body, [{"type": t, "seq": 1, "target": "b", "addr": "127.0.0.1:1",
                                             "nack": False, "name": "a", "incarnation": 1, "meta": b"",
                                             "from": "c", "origin": "o", "id": 1, "payload": b"",
                                             "reply": True, "digest": 1, "members": 1, f: v}])
    attempt(rumor.encode_body, [{"type": "Ping", "seq": 1, "target": "b"}] * 600)
    attempt(rumor.encode_body, [None])
    attempt(rumor.encode_body, [[("type", "Ping")]])

    # Frames with wrong-sized keys and nonces, long labels.
    for k in [b"", bytes(31), bytes(33), "", "!!!", None, 5]:
        for n in [b"", bytes(11), bytes(13), None, "nonce", 5]:
            attempt(rumor.encode_frame, b"x", "l", k, n)
    attempt(rumor.encode_frame, b"x", "L" * 300)
    attempt(rumor.encode_frame, b"x" * 100000)
    attempt(rumor.decode_frame, b"RU\x01\x02\x00", ["bad key"], "")

    # Meta and user events at the edges.
    attempt(rumor.encode_meta, {"k": "v"}, -1)
    attempt(rumor.encode_meta, {"k": "v"}, 2**70)
    attempt(rumor.encode_meta, {"k" * 100000: "v"})
    attempt(rumor.encode_meta, {"k": "\x00"})
    attempt(rumor.encode_user_event, "a\x00b", b"")
    attempt(rumor.encode_user_event, "n" * 100000, b"p" * 100000)

    # The sans-IO node fed garbage: odd times, odd sources, random datagrams.
    for now in [0.0, -1.0, math.nan, math.inf, -math.inf, 1e300, 2**64]:
        attempt(rumor.Node, "a", "127.0.0.1:1", now)
    node = rumor.Node("a", "127.0.0.1:1", 100.0, preset="local", seed=bytes(32))
    attempt(rumor.Node, "b", "127.0.0.1:2", 0.0, seed=b"short")
    for i in range(10000):
        data = bytes(random.getrandbits(8) for _ in range(random.randrange(0, 120)))
        if random.random() < 0.5:
            data = b"RU\x01\x02\x00" + data
        attempt(node.handle_datagram, 100.0 + i / 1000, "127.0.0.1:9", data)
    for source in ["", "garbage", "127.0.0.1", "[::1]:1", "1.2.3.4:99999"]:
        attempt(node.handle_datagram, 101.0, source, b"RU\x01\x02\x00\x04\x00\x07\x01b")
    for now in [math.nan, math.inf, -math.inf, -5.0, 1e300, 50.0]:
        attempt(node.handle_timeout, now)
        attempt(node.poll_transmit, now)
        attempt(node.join, ["127.0.0.1:3"], now)
        attempt(node.broadcast, "n", b"p", now)
        attempt(node.set_meta, {"k": "v"}, now)
    attempt(node.join, ["not an address", "", "host:port"], 102.0)
    attempt(node.broadcast, "n", b"x" * 100000, 102.0)
    attempt(node.set_meta, {"k": "x" * 100000}, 102.0)
    attempt(node.install_key, "bad")
    attempt(node.use_key, bytes(32))
    attempt(node.remove_key, bytes(32))
    attempt(node.leave, 103.0)
    attempt(node.leave, 103.0)
    for i in range(200):
        attempt(node.poll_transmit, 104.0 + i)
        attempt(node.poll_event)
        attempt(node.poll_timeout)
        attempt(node.handle_timeout, 104.0 + i)
    attempt(node.members)
    attempt(node.stats)

    # Agents that must be refused before they start.
    for kwargs in [dict(bind="[::1]:99999"), dict(join=["", ":"]), dict(meta={"\x00": "\x00"}),
                   dict(label="\x00" * 65), dict(keyring=[""]), dict(advertise="0.0.0.0:0")]:
        attempt(rumor.Agent, "a", **kwargs)
    agent = rumor.Agent("a", "127.0.0.1:0", preset="local")
    attempt(agent.members)
    attempt(agent.stats)
    attempt(agent.keys)
    attempt(agent.close)
    attempt(agent.close)
    attempt(agent.broadcast_sync, "x", b"")
    attempt(agent.set_meta_sync, {"k": "v"})
    attempt(agent.leave_sync)
    attempt(agent.install_key, "bad")
    attempt(lambda: agent.addr)
    attempt(lambda: agent.local_addr)
    attempt(lambda: agent.max_event_len)

    print(f"done: {ok} accepted, {refused} refused", flush=True)
    '''
)


@pytest.mark.deadline(240)
def test_garbage_never_crashes_the_interpreter() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", GARBAGE],
        capture_output=True,
        text=True,
        timeout=scaled(200),
        check=False,
    )
    assert proc.returncode == 0 and "done:" in proc.stdout, (
        f"the garbage script died (exit {proc.returncode}; a negative code is a signal, e.g. -11 "
        f"SIGSEGV, -6 SIGABRT):\nstdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-5000:]}"
    )
