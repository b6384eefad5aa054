"""The agent's life cycle in asyncio and in threads: cancellable event streams, clean shutdown
on `async with` exit and on garbage collection, the GIL released while blocking, the blocking
API (`Agent.start`, `events(timeout=...)`, `close()`), and `AgentClosed` after close."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import rumor
from conftest import NotYet, describe, ensure, port_of, run_async, scaled, udp_port_free, wait_until, wait_until_async

try:
    _anext = anext  # type: ignore[name-defined]
except NameError:  # Python 3.9

    def _anext(it: AsyncIterator[Any]) -> Any:  # type: ignore[misc]
        return it.__anext__()


LOCAL = "127.0.0.1:0"


async def next_event(stream: rumor.EventStream, what: str, timeout: float, pred: Any) -> rumor.Event:
    """The first event of `stream` that satisfies `pred`, within `timeout` (scaled) seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + scaled(timeout)
    seen: list[str] = []
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            pytest.fail(f"timed out after {scaled(timeout):.1f} s waiting for {what}; events seen: {seen}")
        try:
            event = await asyncio.wait_for(_anext(stream), remaining)
        except asyncio.TimeoutError:
            continue
        seen.append(describe(event))
        if pred(event):
            return event


def port_freed(port: int, what: str, timeout: float = 10.0) -> None:
    def check() -> None:
        ensure(udp_port_free(port), f"UDP 127.0.0.1:{port} is still bound")

    wait_until(what, timeout, check)


# --- cancellation ----------------------------------------------------------------------------


@pytest.mark.deadline(60)
def test_event_iterator_is_cancellable_and_keeps_working() -> None:
    async def main() -> None:
        async with rumor.Agent("a", LOCAL, preset="local") as a:
            stream = a.events()
            # Nothing happens in a cluster of one: each wait times out, and is cancelled.
            for _ in range(3):
                started = time.monotonic()
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(_anext(stream), 0.2)
                assert time.monotonic() - started < scaled(2.0), "a cancelled wait should return promptly"
            # A cancelled task waiting on the stream does not break it either.
            task = asyncio.ensure_future(_anext(stream))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The stream still delivers: another agent joins.
            async with rumor.Agent("b", LOCAL, join=[a.addr], preset="local") as b:
                event = await next_event(
                    stream, "a MemberJoined event for b", 20, lambda e: isinstance(e, rumor.MemberJoined)
                )
                assert isinstance(event, rumor.MemberJoined)
                assert event.member.name == "b"
                assert event.member.addr == b.addr
                assert event.member.state == rumor.State.ALIVE
            assert stream.missed == 0

    run_async(main, 50)


@pytest.mark.deadline(60)
def test_async_iteration_ends_when_the_agent_stops() -> None:
    async def main() -> None:
        async with rumor.Agent("a", LOCAL, preset="local") as a:
            stream = a.events()
        # The agent stopped on exit: `async for` drains what is left and ends.
        started = time.monotonic()

        async def drain() -> list[rumor.Event]:
            return [e async for e in stream]

        await asyncio.wait_for(drain(), scaled(10))
        assert time.monotonic() - started < scaled(10)

    run_async(main, 50)


# --- shutdown ----------------------------------------------------------------------------------


@pytest.mark.deadline(60)
def test_async_with_exit_closes_the_agent() -> None:
    async def main() -> int:
        agent = rumor.Agent("a", LOCAL, preset="local")
        assert not agent.running
        async with agent as a:
            assert a is agent
            assert a.running
            port = port_of(a.local_addr)
            assert port != 0
            assert a.addr == a.local_addr, "binding 127.0.0.1:0 should advertise the port actually bound"
            assert not udp_port_free(port)
            assert [m.name for m in a.members()] == ["a"]
            assert a.members()[0].state == rumor.State.ALIVE
        assert not agent.running
        return port

    port = run_async(main, 50)
    port_freed(port, "the agent's UDP port to be free after `async with` exit")


@pytest.mark.deadline(60)
def test_garbage_collection_closes_a_started_agent() -> None:
    agent = rumor.Agent.start("gc", LOCAL, preset="local")
    port = port_of(agent.local_addr)
    assert not udp_port_free(port)
    stream = agent.events(timeout=0.1)
    del agent, stream
    gc.collect()
    port_freed(port, "the UDP port of a garbage-collected agent to be free")


@pytest.mark.deadline(60)
def test_garbage_collection_closes_an_agent_entered_but_never_exited() -> None:
    async def main() -> int:
        agent = rumor.Agent("gc", LOCAL, preset="local")
        await agent.__aenter__()
        port = port_of(agent.local_addr)
        assert not udp_port_free(port)
        del agent
        gc.collect()
        await wait_until_async(
            "the UDP port of a garbage-collected agent to be free",
            10,
            lambda: ensure(udp_port_free(port), f"UDP 127.0.0.1:{port} is still bound"),
        )
        return port

    run_async(main, 50)


# --- threads ---------------------------------------------------------------------------------


@pytest.mark.deadline(60)
def test_gil_is_released_while_blocking_in_sync_iteration() -> None:
    agent = rumor.Agent.start("gil", LOCAL, preset="local")
    try:
        stop = threading.Event()
        counter = [0]

        def spin() -> None:
            while not stop.is_set():
                counter[0] += 1

        thread = threading.Thread(target=spin, daemon=True)
        thread.start()
        try:
            time.sleep(0.1)
            before = counter[0]
            started = time.monotonic()
            events = [describe(e) for e in agent.events(timeout=1.0)]
            elapsed = time.monotonic() - started
            progress = counter[0] - before
        finally:
            stop.set()
            thread.join(timeout=scaled(5))
        assert elapsed >= 0.9, f"iteration ended after {elapsed:.2f} s, before its 1 s timeout (events: {events})"
        assert elapsed < scaled(10), f"iteration with a 1 s timeout took {elapsed:.1f} s"
        assert progress > 1000, (
            f"another thread counted only {progress} in {elapsed:.1f} s while the main thread waited for "
            "events: the GIL is not released while blocking"
        )
    finally:
        agent.close()


# --- the blocking API ------------------------------------------------------------------------


@pytest.mark.deadline(90)
def test_blocking_api() -> None:
    a = rumor.Agent.start("a", LOCAL, preset="local", meta={"role": "seed"})
    b: rumor.Agent | None = None
    try:
        assert isinstance(a, rumor.Agent) and a.running and a.name == "a"
        assert port_of(a.local_addr) != 0
        assert a.max_event_len > 0
        stats = a.stats()
        assert isinstance(stats, dict) and all(isinstance(v, int) for v in stats.values())
        assert stats.get("members_alive") == 1, stats

        # Iteration ends after its timeout when nothing happens.
        started = time.monotonic()
        assert list(a.events(timeout=0.3)) == []
        elapsed = time.monotonic() - started
        assert 0.25 <= elapsed < scaled(5), f"an idle events(timeout=0.3) iteration took {elapsed:.2f} s"

        # A second agent joins; the first one's stream (taken before) reports it.
        stream = a.events(timeout=scaled(20))
        b = rumor.Agent.start("b", LOCAL, join=[a.addr], preset="local")
        seen = []
        for event in stream:
            seen.append(describe(event))
            if isinstance(event, rumor.MemberJoined) and event.member.name == "b":
                break
        else:
            pytest.fail(f"no MemberJoined for b before the stream's timeout; events: {seen}")

        # The sync commands.
        b.set_meta_sync({"role": "joiner"})

        def b_meta_at_a() -> None:
            members = {m.name: m for m in a.members()}
            ensure("b" in members, f"a's members: {sorted(members)}")
            ensure(members["b"].meta == {"role": "joiner"}, f"b's meta at a: {members['b'].meta}")

        wait_until("b's new meta at a", 20, b_meta_at_a)
        assert {m.name: m.meta for m in b.members()}["a"] == {"role": "seed"}
        got = None
        deadline = time.monotonic() + scaled(20)
        while got is None and time.monotonic() < deadline:
            # Each round's stream is taken before its broadcast, and ends 1 s after the last event.
            stream = a.events(timeout=1.0)
            b.broadcast_sync("hello", b"\x00\x01")
            for event in stream:
                if isinstance(event, rumor.UserEvent) and event.name == "hello":
                    got = event
                    break
        assert got is not None, "a never received b's broadcast_sync"
        assert (got.origin, got.name, got.payload) == ("b", "hello", b"\x00\x01")

        acknowledged = b.leave_sync()
        assert isinstance(acknowledged, int) and acknowledged >= 0
        assert not b.running

        def b_left() -> None:
            states = {m.name: m.state for m in a.members()}
            ensure(states.get("b") == rumor.State.LEFT, f"a's view: {states}")

        wait_until("a to see b left", 20, b_left)
    finally:
        a.close()
        if b is not None:
            b.close()


@pytest.mark.deadline(60)
def test_close_is_idempotent_and_commands_after_close_raise_agent_closed() -> None:
    a = rumor.Agent.start("a", LOCAL, preset="local")
    port = port_of(a.local_addr)
    stream = a.events(timeout=scaled(30))
    a.close()
    a.close()
    assert not a.running
    port_freed(port, "the UDP port of a closed agent to be free")

    # A stream taken before close ends when the agent stops, well before its timeout.
    started = time.monotonic()
    for _ in stream:
        pass
    assert time.monotonic() - started < scaled(10), "iteration should end when the agent stops"

    with pytest.raises(rumor.AgentClosed):
        a.broadcast_sync("x", b"y")
    with pytest.raises(rumor.AgentClosed):
        a.set_meta_sync({"k": "v"})
    with pytest.raises(rumor.AgentClosed):
        a.leave_sync()

    async def commands() -> None:
        with pytest.raises(rumor.AgentClosed):
            await a.broadcast("x", b"y")
        with pytest.raises(rumor.AgentClosed):
            await a.set_meta({"k": "v"})
        with pytest.raises(rumor.AgentClosed):
            await a.leave()

    run_async(commands, 30)
    a.close()


@pytest.mark.deadline(60)
def test_sync_context_manager_closes() -> None:
    with rumor.Agent("ctx", LOCAL, preset="local") as a:
        assert a.running
        port = port_of(a.local_addr)
    assert not a.running
    port_freed(port, "the UDP port to be free after `with` exit")


@pytest.mark.deadline(60)
def test_leave_returns_acknowledgements_and_stops() -> None:
    async def main() -> None:
        async with rumor.Agent("a", LOCAL, preset="local") as a:
            async with rumor.Agent("b", LOCAL, join=[a.addr], preset="local") as b:

                def both_alive() -> None:
                    ensure(
                        {m.name for m in a.members() if m.state == rumor.State.ALIVE} == {"a", "b"},
                        f"a's view: {[(m.name, m.state) for m in a.members()]}",
                    )

                await wait_until_async("a and b to see each other", 20, both_alive)
                acknowledged = await b.leave()
                assert isinstance(acknowledged, int) and 0 <= acknowledged <= 1
                assert not b.running
                with pytest.raises(rumor.AgentClosed):
                    await b.broadcast("late")

                def b_left() -> None:
                    states = {m.name: m.state for m in a.members()}
                    if states.get("b") != rumor.State.LEFT:
                        raise NotYet(f"a's view: {states}")

                await wait_until_async("a to see b left", 20, b_left)
            # Exiting `async with` after an explicit leave is fine.

    run_async(main, 50)
