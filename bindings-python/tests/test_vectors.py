"""Every vector of tests/vectors/wire.json through the binding's codecs (`decode_body`,
`encode_body`, `encode_frame`, `decode_frame`, `encode_meta`/`decode_meta`,
`encode_user_event`/`decode_user_event`), byte for byte, as core/tests/vectors.rs does natively.

The vectors' JSON is converted to the binding's Python form: byte fields (`meta`, `payload`,
`nonce`) are `bytes`, u64 fields (`id`, `digest`, decimal strings in JSON) are ints, and an
address `{type, octets, port}` is an `"ip:port"` string (`"[v6]:port"`).
"""

from __future__ import annotations

import base64
import ipaddress
import json
from typing import Any

import pytest

import rumor
from conftest import VECTORS

with open(VECTORS, encoding="utf-8") as _f:
    V: dict[str, Any] = json.load(_f)

U64_FIELDS = {"id", "digest"}
BYTES_FIELDS = {"meta", "payload"}


def section(name: str) -> list[Any]:
    items = V[name]
    assert items, f"section {name} of the vectors is empty"
    return [pytest.param(v, id=v["name"]) for v in items]


def addr(a: dict[str, Any]) -> str:
    octets = bytes.fromhex(a["octets"])
    if a["type"] == "V4":
        return f"{ipaddress.IPv4Address(octets)}:{a['port']}"
    if a["type"] == "V6":
        return f"[{ipaddress.IPv6Address(octets)}]:{a['port']}"
    raise AssertionError(f"address type {a['type']}")


def message(m: dict[str, Any]) -> dict[str, Any]:
    """A vector's message in the binding's dict form."""
    out: dict[str, Any] = {}
    for k, v in m.items():
        if k == "addr":
            out[k] = addr(v)
        elif k in U64_FIELDS:
            out[k] = int(v)
        elif k in BYTES_FIELDS:
            out[k] = bytes.fromhex(v)
        else:
            out[k] = v
    return out


def messages(v: dict[str, Any]) -> list[dict[str, Any]]:
    return [message(m) for m in v["messages"]]


def key(name: str) -> bytes:
    """A vector key (named `k0`...) as the raw 32 bytes a caller passes."""
    return bytes.fromhex(V["keys"][name]["key"])


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def strict(value: Any) -> Any:
    """`value` with each leaf tagged by its exact type, so that `True` never equals `1`, nor
    `bytearray` `bytes`, when compared."""
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return (type(value).__name__, value)


def assert_same(got: Any, want: Any, what: str) -> None:
    assert strict(got) == strict(want), f"{what}:\n  got  {got!r}\n  want {want!r}"


def decoded(hex_text: str) -> tuple[list[dict[str, object]], int]:
    result = rumor.decode_body(bytes.fromhex(hex_text))
    assert isinstance(result, tuple) and len(result) == 2, f"decode_body returned {result!r}"
    msgs, skipped = result
    assert isinstance(msgs, list), f"decode_body's messages are {type(msgs).__name__}, not list"
    return msgs, skipped


# --- messages and bodies: both ways ----------------------------------------------------------


@pytest.mark.parametrize("v", section("messages"))
def test_message_decodes(v: dict[str, Any]) -> None:
    msgs, skipped = decoded(v["hex"])
    assert_same(msgs, [message(v["message"])], "messages")
    assert_same(skipped, 0, "skipped")


@pytest.mark.parametrize("v", section("messages"))
def test_message_encodes(v: dict[str, Any]) -> None:
    got = rumor.encode_body([message(v["message"])])
    assert isinstance(got, bytes)
    assert got.hex() == v["hex"]


@pytest.mark.parametrize("v", section("bodies"))
def test_body_decodes(v: dict[str, Any]) -> None:
    msgs, skipped = decoded(v["hex"])
    assert_same(msgs, messages(v), "messages")
    assert_same(skipped, 0, "skipped")


@pytest.mark.parametrize("v", section("bodies"))
def test_body_encodes(v: dict[str, Any]) -> None:
    got = rumor.encode_body(messages(v))
    assert isinstance(got, bytes)
    assert got.hex() == v["hex"]


def test_encode_body_accepts_any_sequence_and_mapping() -> None:
    # The signature takes Sequence[Mapping]: a tuple of read-only mappings works like a list
    # of dicts.
    from types import MappingProxyType

    ping = {"type": "Ping", "seq": 7, "target": "b"}
    assert rumor.encode_body((MappingProxyType(ping),)).hex() == "0400070162"


# --- decode-only -----------------------------------------------------------------------------


@pytest.mark.parametrize("v", section("noncanonical"))
def test_noncanonical_body_decodes(v: dict[str, Any]) -> None:
    msgs, skipped = decoded(v["hex"])
    assert_same(msgs, messages(v), "messages")
    assert_same(skipped, 0, "skipped")


@pytest.mark.parametrize("v", section("unknown_types"))
def test_unknown_types_are_skipped(v: dict[str, Any]) -> None:
    msgs, skipped = decoded(v["hex"])
    assert_same(msgs, messages(v), "messages")
    assert_same(skipped, v["skipped"], "skipped")


# --- frames ----------------------------------------------------------------------------------


def receiver_keys(v: dict[str, Any]) -> list[bytes]:
    names = v.get("receiver_keys")
    if names is None:
        names = [] if v["seal"] is None else [v["seal"]["key"]]
    return [key(n) for n in names]


@pytest.mark.parametrize("v", section("frames"))
def test_frame_encodes(v: dict[str, Any]) -> None:
    body = bytes.fromhex(v["body"])
    if v["seal"] is None:
        got = rumor.encode_frame(body, v["label"])
        assert isinstance(got, bytes)
        assert got.hex() == v["hex"]
        assert rumor.encode_frame(body, label=v["label"], key=None, nonce=None).hex() == v["hex"]
    else:
        k, nonce = key(v["seal"]["key"]), bytes.fromhex(v["seal"]["nonce"])
        got = rumor.encode_frame(body, v["label"], k, nonce)
        assert isinstance(got, bytes)
        assert got.hex() == v["hex"]
        # A key given as base64 text (as `rumor keygen` prints it) is the same key.
        assert rumor.encode_frame(body, label=v["label"], key=b64(k), nonce=nonce).hex() == v["hex"]


@pytest.mark.parametrize("v", section("frames"))
def test_frame_decodes(v: dict[str, Any]) -> None:
    result = rumor.decode_frame(bytes.fromhex(v["hex"]), receiver_keys(v), v["label"])
    assert isinstance(result, tuple) and len(result) == 2, f"decode_frame returned {result!r}"
    header, body = result
    h = v["header"]
    want = {"encrypted": h["encrypted"], "key_id": h["key_id"], "nonce": bytes.fromhex(h["nonce"]), "len": h["len"]}
    header = dict(header)
    # The contract names these four fields; a binding may add the frame's `label` as well.
    if "label" in header:
        assert_same(header.pop("label"), v["label"], "header label")
    assert_same(header, want, "header")
    assert_same(body, bytes.fromhex(v["body"]), "body")
    msgs, skipped = decoded(v["body"])
    assert_same(msgs, messages(v), "messages")
    assert skipped == 0
    # Keys as base64 text open it as well.
    _, body_b64 = rumor.decode_frame(bytes.fromhex(v["hex"]), keys=[b64(k) for k in receiver_keys(v)], label=v["label"])
    assert body_b64 == body


def test_sealed_frame_without_nonce() -> None:
    # "sealed with `key` and the 12-byte `nonce` if given": a key without a nonce either seals
    # with a fresh random nonce or is refused as a bad argument; never anything else.
    body = bytes.fromhex("0400070162")
    k = key("k1")
    try:
        a = rumor.encode_frame(body, "prod", k)
    except ValueError:
        return
    b = rumor.encode_frame(body, "prod", k)
    assert a != b, "two frames sealed without an explicit nonce should use different nonces"
    for frame in (a, b):
        header, opened = rumor.decode_frame(frame, [k], "prod")
        assert opened == body
        assert header["encrypted"] is True


def test_bad_nonce_or_key_length_is_refused() -> None:
    for k, nonce in [(key("k1"), bytes(11)), (key("k1"), bytes(13)), (bytes(31), bytes(12)), (bytes(33), bytes(12))]:
        with pytest.raises((ValueError, rumor.RumorError)):
            rumor.encode_frame(b"", "", k, nonce)


# --- invalid inputs --------------------------------------------------------------------------


def open_and_decode(v: dict[str, Any]) -> None:
    data = bytes.fromhex(v["hex"])
    if v["kind"] == "body":
        rumor.decode_body(data)
    elif v["kind"] == "frame":
        # Open the frame as a receiver, then decode its body: either step may refuse it.
        _, body = rumor.decode_frame(data, [key(n) for n in v["receiver_keys"]], v["receiver_label"])
        rumor.decode_body(body)
    else:
        raise AssertionError(f"kind {v['kind']}")


@pytest.mark.parametrize("v", section("invalid"))
def test_invalid_input_raises_decode_error(v: dict[str, Any]) -> None:
    with pytest.raises(rumor.DecodeError) as caught:
        open_and_decode(v)
    err = caught.value
    assert isinstance(err, rumor.RumorError) and isinstance(err, ValueError)
    assert err.kind == v["error"], f"kind {err.kind!r}, want {v['error']!r} ({err})"


# --- meta ------------------------------------------------------------------------------------


@pytest.mark.parametrize("v", section("meta"))
def test_meta(v: dict[str, Any]) -> None:
    max_len = v.get("max_len")
    error = v.get("error")
    if error == "TooLong":
        with pytest.raises(rumor.MetaError):
            rumor.encode_meta(v["map"], max_len)
    elif error == "Malformed":
        with pytest.raises(rumor.MetaError):
            rumor.decode_meta(bytes.fromhex(v["hex"]))
    elif error is not None:
        raise AssertionError(f"unknown error {error}")
    else:
        if not v.get("decode_only"):
            got = rumor.encode_meta(v["map"], max_len)
            assert isinstance(got, bytes)
            assert got.hex() == v["hex"]
        assert_same(rumor.decode_meta(bytes.fromhex(v["hex"])), v["map"], "decoded map")


def test_meta_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        rumor.encode_meta({"key": "x" * 600})
    with pytest.raises(ValueError):
        rumor.decode_meta(b"\xff")


# --- user events -----------------------------------------------------------------------------


@pytest.mark.parametrize("v", section("user_events"))
def test_user_event(v: dict[str, Any]) -> None:
    payload = bytes.fromhex(v["payload"])
    error = v.get("error")
    if error == "NulInName":
        # The contract names no exception for this; a refused argument value is a ValueError
        # (or at least a RumorError).
        with pytest.raises((ValueError, rumor.RumorError)):
            rumor.encode_user_event(v["event"], payload)
    elif error is not None:
        raise AssertionError(f"unknown error {error}")
    else:
        if not v.get("decode_only"):
            got = rumor.encode_user_event(v["event"], payload)
            assert isinstance(got, bytes)
            assert got.hex() == v["hex"]
        assert_same(rumor.decode_user_event(bytes.fromhex(v["hex"])), (v["event"], payload), "decoded event")
