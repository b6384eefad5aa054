"""A Python `Agent` in a cluster of real native `rumor agent` processes on loopback: it joins
them and they list it with its metadata, a SIGKILLed native is reported failed, user events
cross both ways (`Agent.broadcast` to `rumor monitor`, `rumor event` to `Agent.events()`),
metadata changes and a graceful leave are seen natively, and a Python agent with the wrong key
never enters an encrypted cluster while one with the right key does."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import rumor
from conftest import (
    NativeAgent,
    NativeCluster,
    NotYet,
    describe,
    ensure,
    keyring_file,
    run_async,
    run_rumor,
    scaled,
    wait_until_async,
)

try:
    _anext = anext  # type: ignore[name-defined]
except NameError:  # Python 3.9

    def _anext(it: Any) -> Any:  # type: ignore[misc]
        return it.__anext__()


LOCAL = "127.0.0.1:0"
CONVERGE = 45.0


def start_three(natives: NativeCluster, **kwargs: Any) -> list[NativeAgent]:
    n1 = natives.start("n1", meta={"role": "native", "idx": "1"}, **kwargs)
    n2 = natives.start("n2", join=[n1.addr], meta={"role": "native", "idx": "2"}, **kwargs)
    n3 = natives.start("n3", join=[n1.addr], meta={"role": "native", "idx": "3"}, **kwargs)
    return [n1, n2, n3]


def alive_at_python(agent: rumor.Agent, names: set[str]) -> Callable[[], None]:
    def check() -> None:
        view = {m.name: m.state for m in agent.members()}
        missing = {n for n in names if view.get(n) != rumor.State.ALIVE}
        ensure(not missing, f"{agent.name} does not see {sorted(missing)} alive; its view: {view}")

    return check


def state_at_native(native: NativeAgent, name: str, state: str) -> Callable[[], dict[str, Any]]:
    def check() -> dict[str, Any]:
        member = native.members().get(name)
        ensure(member is not None and member["state"] == state, f"{native.name} lists {name} as {member}")
        assert member is not None
        return member

    return check


async def all_natives(what: str, natives: list[NativeAgent], name: str, state: str) -> list[dict[str, Any]]:
    rows = []
    for n in natives:
        rows.append(await wait_until_async(f"{n.name} to list {name} {state} ({what})", CONVERGE, state_at_native(n, name, state)))
    return rows


class Collector:
    """Reads an agent's event stream into a list in a background task, so that tests can poll
    for an event while doing other things (sending, killing)."""

    def __init__(self, stream: rumor.EventStream) -> None:
        self.stream = stream
        self.events: list[rumor.Event] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for event in self.stream:
            self.events.append(event)

    def find(self, pred: Callable[[rumor.Event], bool], what: str) -> Callable[[], rumor.Event]:
        def check() -> rumor.Event:
            if self.task.done() and self.task.exception() is not None:
                raise AssertionError(f"the event stream failed: {self.task.exception()!r}")
            for e in self.events:
                if pred(e):
                    return e
            raise NotYet(f"no {what} among {[describe(e) for e in self.events]}")

        return check

    async def close(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


# --- membership --------------------------------------------------------------------------------


@pytest.mark.deadline(120)
def test_python_agent_joins_natives_and_they_list_it_with_its_meta(natives: NativeCluster) -> None:
    trio = start_three(natives)
    meta = {"role": "python", "lang": "py", "zone": "eu-1"}

    async def main() -> None:
        async with rumor.Agent("py", LOCAL, join=[trio[0].addr], preset="local", meta=meta) as agent:
            assert agent.running
            await wait_until_async("py to see n1..n3 alive", CONVERGE, alive_at_python(agent, {"n1", "n2", "n3", "py"}))
            members = agent.members()
            assert [m.name for m in members] == sorted(m.name for m in members), "members() is sorted by name"
            by_name = {m.name: m for m in members}
            assert set(by_name) == {"n1", "n2", "n3", "py"}
            for n in trio:
                m = by_name[n.name]
                assert isinstance(m, rumor.Member)
                assert m.addr == n.addr
                assert m.state == rumor.State.ALIVE and isinstance(m.state, rumor.State)
                assert isinstance(m.incarnation, int)
                assert m.meta == {"role": "native", "idx": n.name[1:]}
            assert by_name["py"].addr == agent.addr
            assert by_name["py"].meta == meta
            # Members are values: equal when every field is, and their meta is a copy.
            again = {m.name: m for m in agent.members()}
            assert again["n1"] == by_name["n1"]
            assert again["n1"] != by_name["n2"]
            by_name["n1"].meta["role"] = "changed"
            assert {m.name: m for m in agent.members()}["n1"].meta["role"] == "native"

            rows = await all_natives("after join", trio, "py", "alive")
            for row in rows:
                assert row["addr"] == agent.addr
                assert row["meta"] == meta
            stats = agent.stats()
            assert stats["members_alive"] == 4, stats

    run_async(main, 100)


@pytest.mark.deadline(120)
def test_sigkilled_native_is_reported_failed(natives: NativeCluster) -> None:
    trio = start_three(natives)

    async def main() -> None:
        async with rumor.Agent("py", LOCAL, join=[trio[0].addr], preset="local") as agent:
            await wait_until_async("py to see n1..n3 alive", CONVERGE, alive_at_python(agent, {"n1", "n2", "n3"}))
            await all_natives("before the kill", trio, "py", "alive")
            events = Collector(agent.events())
            try:
                trio[1].kill()
                failed = await wait_until_async(
                    "a MemberFailed event for n2",
                    CONVERGE,
                    events.find(lambda e: isinstance(e, rumor.MemberFailed) and e.member.name == "n2", "MemberFailed(n2)"),
                )
                assert isinstance(failed, rumor.MemberFailed)
                assert failed.member.state == rumor.State.FAILED
                assert failed.member.addr == trio[1].addr

                def n2_failed() -> None:
                    states = {m.name: m.state for m in agent.members()}
                    ensure(states.get("n2") == rumor.State.FAILED, f"py's view: {states}")

                await wait_until_async("py's members() to show n2 failed", 10, n2_failed)
                # Nobody else was declared failed.
                others = {m.name: m.state for m in agent.members() if m.name != "n2"}
                assert others == {"n1": rumor.State.ALIVE, "n3": rumor.State.ALIVE, "py": rumor.State.ALIVE}
                assert not any(isinstance(e, rumor.MemberFailed) and e.member.name != "n2" for e in events.events), [
                    describe(e) for e in events.events
                ]
            finally:
                await events.close()

    run_async(main, 100)


# --- user events -------------------------------------------------------------------------------


@pytest.mark.deadline(120)
def test_python_broadcast_reaches_native_monitor(natives: NativeCluster, tmp_path: Path) -> None:
    n1 = natives.start("n1")
    n2 = natives.start("n2", join=[n1.addr])
    monitor_out = tmp_path / "monitor.jsonl"
    natives.spawn("monitor", "--json", "--http", n2.http, stdout=monitor_out)

    async def main() -> None:
        async with rumor.Agent("py", LOCAL, join=[n1.addr], preset="local") as agent:
            await wait_until_async("py to see n1, n2 alive", CONVERGE, alive_at_python(agent, {"n1", "n2"}))
            await all_natives("before broadcasting", [n1, n2], "py", "alive")

            # The monitor subscribes once it has connected, and user events are fire and forget:
            # broadcast until one shows up.
            async def printed() -> dict[str, Any]:
                await agent.broadcast("deploy", b"v42")
                for line in monitor_out.read_text(errors="replace").splitlines():
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if event.get("type") == "user-event" and event.get("name") == "deploy":
                        return event
                raise NotYet(f"monitor printed {monitor_out.read_text(errors='replace')!r}")

            event = await wait_until_async("`rumor monitor` on n2 to print py's user event", 20, printed, interval=0.5)
            assert (event.get("origin"), event.get("name"), event.get("payload")) == ("py", "deploy", "v42"), event

    run_async(main, 100)


@pytest.mark.deadline(120)
def test_native_event_reaches_python_event_stream(natives: NativeCluster) -> None:
    n1 = natives.start("n1")
    n2 = natives.start("n2", join=[n1.addr])

    async def main() -> None:
        async with rumor.Agent("py", LOCAL, join=[n1.addr], preset="local") as agent:
            await wait_until_async("py to see n1, n2 alive", CONVERGE, alive_at_python(agent, {"n1", "n2"}))
            await all_natives("before the event", [n1, n2], "py", "alive")
            events = Collector(agent.events())
            try:
                find = events.find(
                    lambda e: isinstance(e, rumor.UserEvent) and e.name == "deploy", "UserEvent(deploy)"
                )

                async def arrived() -> rumor.Event:
                    try:
                        return find()
                    except NotYet:
                        await asyncio.to_thread(run_rumor, "event", "--http", n1.http, "deploy", "v7")
                        raise

                event = await wait_until_async("n1's `rumor event` at py", 20, arrived, interval=0.5)
                assert isinstance(event, rumor.UserEvent)
                assert (event.origin, event.name, event.payload) == ("n1", "deploy", b"v7")
                assert isinstance(event.payload, bytes)
                if sys.version_info >= (3, 10):
                    # The classes declare __match_args__ for positional patterns.
                    scope: dict[str, Any] = {"event": event, "rumor": rumor}
                    exec(
                        "match event:\n"
                        "    case rumor.UserEvent(origin, name, payload):\n"
                        "        result = (origin, name, payload)\n"
                        "    case _:\n"
                        "        result = None\n",
                        scope,
                    )
                    assert scope["result"] == ("n1", "deploy", b"v7")
            finally:
                await events.close()

    run_async(main, 100)


# --- metadata and leaving ----------------------------------------------------------------------


@pytest.mark.deadline(120)
def test_set_meta_shows_up_natively(natives: NativeCluster) -> None:
    n1 = natives.start("n1")
    n2 = natives.start("n2", join=[n1.addr])

    async def main() -> None:
        async with rumor.Agent("py", LOCAL, join=[n1.addr], preset="local", meta={"version": "1"}) as agent:
            rows = await all_natives("before set_meta", [n1, n2], "py", "alive")
            assert all(r["meta"] == {"version": "1"} for r in rows), rows
            before = rows[0]["incarnation"]
            await agent.set_meta({"version": "2", "extra": "yes"})
            assert {m.name: m.meta for m in agent.members()}["py"] == {"version": "2", "extra": "yes"}
            for n in (n1, n2):

                def updated(n: NativeAgent = n) -> dict[str, Any]:
                    row = state_at_native(n, "py", "alive")()
                    ensure(row["meta"] == {"version": "2", "extra": "yes"}, f"{n.name} lists py with {row}")
                    return row

                row = await wait_until_async(f"{n.name} to list py's new meta", CONVERGE, updated)
                assert row["incarnation"] > before, row

    run_async(main, 100)


@pytest.mark.deadline(120)
def test_python_leave_is_seen_as_left_natively(natives: NativeCluster) -> None:
    n1 = natives.start("n1")
    n2 = natives.start("n2", join=[n1.addr])

    async def main() -> None:
        agent = rumor.Agent("py", LOCAL, join=[n1.addr], preset="local")
        async with agent:
            await all_natives("before leaving", [n1, n2], "py", "alive")
        assert not agent.running
        await all_natives("after `async with` exit", [n1, n2], "py", "left")

    run_async(main, 100)


# --- encryption --------------------------------------------------------------------------------


@pytest.mark.deadline(120)
def test_wrong_key_never_joins_right_key_does(natives: NativeCluster, tmp_path: Path) -> None:
    good_key, wrong_key = rumor.generate_key(), rumor.generate_key()
    n1 = natives.start("n1", keyring=keyring_file(tmp_path / "n1.keys", [good_key]))
    n2 = natives.start("n2", join=[n1.addr], keyring=keyring_file(tmp_path / "n2.keys", [good_key]))

    async def main() -> None:
        async with rumor.Agent("bad", LOCAL, join=[n1.addr], preset="local", keyring=[wrong_key]) as bad, rumor.Agent(
            "good", LOCAL, join=[n1.addr], preset="local", keyring=[good_key]
        ) as good:
            assert good.keys() == [good_key]
            assert bad.keys() == [wrong_key]
            await all_natives("with the right key", [n1, n2], "good", "alive")
            await wait_until_async("good to see n1, n2 alive", CONVERGE, alive_at_python(good, {"n1", "n2"}))
            # The wrong key's agent has been sending to n1 all along; for a few more seconds it
            # must never show up, and it must not see anyone either.
            end = time.monotonic() + scaled(3)
            while time.monotonic() < end:
                for n in (n1, n2):
                    assert "bad" not in n.members(), f"{n.name} lists the agent with the wrong key: {n.table()}"
                assert [m.name for m in bad.members()] == ["bad"], [(m.name, m.state) for m in bad.members()]
                assert "bad" not in {m.name for m in good.members()}
                await asyncio.sleep(0.2)

    run_async(main, 100)
