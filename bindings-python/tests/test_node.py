"""The sans-IO `rumor.Node` driven by a small pure-Python loop over real UDP sockets: two
Python nodes and one native agent form a cluster, and the nodes' event sequences say so."""

from __future__ import annotations

import select
import socket
import time
from typing import Any

import pytest

import rumor
from conftest import NativeAgent, NativeCluster, describe, scaled, split_addr


class Driver:
    """One `Node` on its own non-blocking UDP socket: sends what `poll_transmit` gives, feeds
    received datagrams and due timeouts, and keeps every event `poll_event` gives."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.node = rumor.Node(name, self.addr, time.monotonic(), preset="local", **kwargs)
        self.events: list[rumor.Event] = []
        self.sent = self.received = 0

    def flush(self, now: float) -> None:
        """Sends every pending datagram and collects every pending event."""
        while (t := self.node.poll_transmit(now)) is not None:
            assert isinstance(t, rumor.Transmit)
            assert isinstance(t.data, bytes) and t.data
            try:
                self.sock.sendto(t.data, split_addr(t.destination))
                self.sent += 1
            except OSError:
                pass  # a datagram lost is a datagram lost
        while (e := self.node.poll_event()) is not None:
            self.events.append(e)

    def receive(self, now: float) -> None:
        while True:
            try:
                data, (host, port) = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # e.g. an ICMP error reported on this socket
            self.received += 1
            self.node.handle_datagram(now, f"{host}:{port}", data)

    def tick(self, now: float) -> None:
        due = self.node.poll_timeout()
        if due is not None and due <= now:
            self.node.handle_timeout(now)

    def close(self) -> None:
        self.sock.close()


def drive(drivers: list[Driver], seconds: float, until: Any) -> None:
    """Runs the loop until `until()` is true or `seconds` (scaled) pass."""
    deadline = time.monotonic() + scaled(seconds)
    while True:
        now = time.monotonic()
        for d in drivers:
            d.tick(now)
            d.flush(now)
        if until():
            return
        if now > deadline:
            return
        dues = [t for d in drivers if (t := d.node.poll_timeout()) is not None]
        wait = min([0.05, *[max(0.0, t - now) for t in dues]])
        readable, _, _ = select.select([d.sock for d in drivers], [], [], wait)
        now = time.monotonic()
        for d in drivers:
            if d.sock in readable:
                d.receive(now)
                d.flush(now)


@pytest.mark.deadline(120)
def test_two_python_nodes_and_a_native_agent_form_a_cluster(natives: NativeCluster) -> None:
    native: NativeAgent = natives.start("native")
    a, b = Driver("py-a"), Driver("py-b")
    drivers = [a, b]
    try:
        assert a.node.name == "py-a" and a.node.addr == a.addr
        now = time.monotonic()
        a.node.join([native.addr], now)
        b.node.join([a.addr], now)
        names = {"native", "py-a", "py-b"}

        def python_views() -> dict[str, dict[str, rumor.State]]:
            return {d.node.name: {m.name: m.state for m in d.node.members()} for d in drivers}

        native_view: dict[str, Any] = {}
        last_native_check = [0.0]
        done = [False]

        def converged() -> bool:
            for view in python_views().values():
                if set(view) != names or any(s != rumor.State.ALIVE for s in view.values()):
                    return False
            # Asking the native agent over HTTP is slower: at most every 200 ms.
            if time.monotonic() - last_native_check[0] < 0.2:
                return False
            last_native_check[0] = time.monotonic()
            try:
                native_view.clear()
                native_view.update({n: m["state"] for n, m in native.members().items()})
            except OSError:
                return False
            done[0] = set(native_view) == names and all(s == "alive" for s in native_view.values())
            return done[0]

        drive(drivers, 30, converged)
        assert done[0], (
            f"no convergence within {scaled(30):.0f} s: python views {python_views()}, native view {native_view}; "
            f"datagrams sent/received: a {a.sent}/{a.received}, b {b.sent}/{b.received}; "
            f"a's events {[describe(e) for e in a.events]}"
        )
        assert a.node.is_joined and b.node.is_joined

        # Each node's members carry the addresses they are reached at.
        addrs = {m.name: m.addr for m in a.node.members()}
        assert addrs == {"native": native.addr, "py-a": a.addr, "py-b": b.addr}

        # The event sequences say what happened.
        for d, others in [(a, {"native", "py-b"}), (b, {"native", "py-a"})]:
            kinds = [type(e) for e in d.events]
            described = [describe(e) for e in d.events]
            assert rumor.Joined in kinds, f"{d.node.name}: no Joined in {described}"
            joined = {e.member.name for e in d.events if isinstance(e, rumor.MemberJoined)}
            assert others <= joined, f"{d.node.name}: MemberJoined for {sorted(joined)} only, in {described}"
            assert not any(isinstance(e, rumor.MemberFailed) for e in d.events), described
        stats = a.node.stats()
        assert isinstance(stats, dict) and stats and all(isinstance(v, int) for v in stats.values()), stats

        # A user event from one Python node reaches the other through the loop.
        a.node.broadcast("ping", b"\x01\x02", time.monotonic())

        def delivered() -> bool:
            return any(isinstance(e, rumor.UserEvent) and e.name == "ping" for e in b.events)

        drive(drivers, 20, delivered)
        got = [e for e in b.events if isinstance(e, rumor.UserEvent) and e.name == "ping"]
        assert got, f"py-b never got py-a's broadcast; its events: {[describe(e) for e in b.events]}"
        assert (got[0].origin, got[0].payload) == ("py-a", b"\x01\x02")

        # py-b leaves; the loop carries its leave, and it completes.
        b.node.leave(time.monotonic())

        def left() -> bool:
            return any(isinstance(e, rumor.LeaveComplete) for e in b.events) and any(
                isinstance(e, rumor.MemberLeft) and e.member.name == "py-b" for e in a.events
            )

        drive(drivers, 20, left)
        assert left(), (
            f"py-b's leave did not complete: py-b events {[describe(e) for e in b.events]}, "
            f"py-a events {[describe(e) for e in a.events]}"
        )
    finally:
        for d in drivers:
            d.close()
