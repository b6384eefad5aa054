"""Figures of the Python binding (a benchmark, not a test): prints a markdown table.

    python bindings-python/bench/figures.py [--runs 3] [--events 20000]

Every measurement runs in a fresh child process (this script with `--measure NAME`), `--runs`
times; the table shows the median and the spread (min–max) of the runs. Everything is on
127.0.0.1 with ephemeral ports and stops before the script exits.

(a) Events delivered into Python per second.
    - `async for` / `for` (binding): what the binding can hand to Python. One Agent receives
      N user events that this process injects as plaintext Rumor datagrams (64 `User`
      messages each, built with `rumor.encode_body` / `encode_frame`) on its UDP port. The
      injection is flow-controlled by the consumer (at most 192 events outstanding, below the
      stream's 256-event buffer), so the figure is the consumer's pace, not a loss rate: the
      gossip layer and the network are out of the way. For scale, the same datagrams fed to a
      sans-IO `rumor.Node` (`handle_datagram` + `poll_event`, no threads): the conversion alone.
    - gossip, two Agents: the same N as user broadcasts from a second Agent in the process
      (`await agent.broadcast(...)` as fast as it returns), and a paced run. User broadcasts
      are best-effort gossip: each is piggybacked on protocol packets within
      `user_broadcast_budget` bytes, a sender queues at most 256 (the oldest are dropped), so
      a burst far above what gossip carries loses most of it by design.
(b) `members()` latency with 1000 alive members: a `rumor.Node` in a virtual-time cluster of
    1000 Nodes in one process (datagrams passed in memory), and an `Agent` in a real cluster of
    1000 Agents in one process (UDP on 127.0.0.x). Median of 200 calls.
(c) Resident memory (VmRSS) of an idle process (`python -c`, nothing else imported): a plain
    interpreter, one in `asyncio.run`, `import rumor`, one started Agent (blocking form), and one
    Agent in asyncio with an `async for` over its events, each read after 3 s idle.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional

Result = dict[str, Any]

BATCH = 64
"""User events per injected datagram."""
WINDOW = 128
"""Events outstanding (injected, not yet consumed) at most before the next datagram."""


# --------------------------------------------------------------------------------------------
# helpers


def injected_frames(origin: str, n: int) -> list[tuple[bytes, int]]:
    """Plaintext frames holding `n` user events from `origin` (ids 0..n-1): (frame, events)."""
    import rumor

    payload = rumor.encode_user_event("tick", b"12345678")
    frames = []
    for start in range(0, n, BATCH):
        ids = range(start, min(n, start + BATCH))
        body = rumor.encode_body([{"type": "User", "origin": origin, "id": i, "payload": payload} for i in ids])
        frames.append((rumor.encode_frame(body), len(ids)))
    return frames


class Injector:
    """Sends the frames to an agent's UDP port, keeping at most WINDOW events outstanding."""

    def __init__(self, addr: str, frames: list[tuple[bytes, int]]) -> None:
        host, port = addr.rsplit(":", 1)
        self.dest = (host, int(port))
        self.frames = frames
        self.next = 0
        self.sent = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def top_up(self, consumed: int) -> None:
        while self.next < len(self.frames) and self.sent - consumed <= WINDOW:
            frame, count = self.frames[self.next]
            self.sock.sendto(frame, self.dest)
            self.sent += count
            self.next += 1


# --------------------------------------------------------------------------------------------
# (a) event delivery


def measure_async_delivery(n: int) -> Result:
    import rumor

    frames = injected_frames("injector", n)

    async def main() -> Result:
        async with rumor.Agent("rx", "127.0.0.1:0", preset="local") as rx:
            stream = rx.events()
            inject = Injector(rx.local_addr, frames)
            got = 0
            started = time.perf_counter()
            inject.top_up(got)
            async for event in stream:
                if isinstance(event, rumor.UserEvent):
                    got += 1
                    inject.top_up(got)
                    if got == n:
                        break
            elapsed = time.perf_counter() - started
            return {"rate": got / elapsed, "delivered": got, "sent": inject.sent, "missed": stream.missed}

    return asyncio.run(main())


def measure_sync_delivery(n: int) -> Result:
    import rumor

    frames = injected_frames("injector", n)
    with rumor.Agent("rx", "127.0.0.1:0", preset="local") as rx:
        stream = rx.events(timeout=5.0)
        inject = Injector(rx.local_addr, frames)
        got = 0
        started = time.perf_counter()
        inject.top_up(got)
        try:
            for event in stream:
                if isinstance(event, rumor.UserEvent):
                    got += 1
                    inject.top_up(got)
                    if got == n:
                        break
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # pyo3's PanicException is a BaseException
            return {"error": f"{type(e).__name__}: {e}", "delivered": got, "sent": inject.sent}
        elapsed = time.perf_counter() - started
        return {"rate": got / elapsed, "delivered": got, "sent": inject.sent, "missed": stream.missed}


def measure_node_events(n: int) -> Result:
    """The same injected datagrams fed to a sans-IO `rumor.Node` (`handle_datagram`, then
    `poll_event` until empty): the conversion cost alone, no threads and no asyncio."""
    import rumor

    frames = injected_frames("injector", n)
    node = rumor.Node("rx", "127.0.0.1:7946", 0.0)
    node.join([], 0.0)
    got = 0
    started = time.perf_counter()
    for frame, _ in frames:
        node.handle_datagram(1.0, "127.0.0.2:7946", frame)
        while (event := node.poll_event()) is not None:
            got += isinstance(event, rumor.UserEvent)
    elapsed = time.perf_counter() - started
    return {"rate": got / elapsed, "delivered": got, "sent": n, "missed": 0}


def measure_gossip_delivery(n: int, pace: float) -> Result:
    """A second Agent broadcasts `n` user events (at `pace` per second, 0: as fast as accepted);
    counts arrivals until none came for 2 s."""
    import rumor

    async def main() -> Result:
        async with rumor.Agent("rx", "127.0.0.1:0", preset="local") as rx:
            stream = rx.events()
            got = 0
            last_arrival = 0.0

            async def consume() -> None:
                nonlocal got, last_arrival
                async for event in stream:  # ends when rx leaves
                    if isinstance(event, rumor.UserEvent) and event.origin == "tx":
                        got += 1
                        last_arrival = time.perf_counter()

            consumer = asyncio.ensure_future(consume())
            async with rumor.Agent("tx", "127.0.0.1:0", join=[rx.addr], preset="local") as tx:
                while len(rx.members()) < 2 or len(tx.members()) < 2:
                    await asyncio.sleep(0.02)
                payload = b"12345678"
                started = time.perf_counter()
                for i in range(n):
                    await tx.broadcast("tick", payload)
                    if pace:
                        delay = started + (i + 1) / pace - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                send_time = time.perf_counter() - started
                seen = -1
                while seen != got:
                    seen = got
                    await asyncio.sleep(2.0)
                dropped = tx.stats()["user_broadcasts_dropped"]
            await rx.leave()
            await consumer
            span = (last_arrival - started) if got else 0.0
            return {"rate": got / span if span else 0.0, "delivered": got, "sent": n, "send_s": send_time,
                    "missed": stream.missed, "tx_dropped": dropped}

    return asyncio.run(main())


# --------------------------------------------------------------------------------------------
# (b) members() latency


def time_calls(call: Callable[[], object], count: int = 200) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def measure_node_members(n: int) -> Result:
    """`n` Nodes in virtual time (a heap of timers and in-memory datagrams, 0.5 ms latency),
    joining 100 a second through a random earlier node, until node 0 sees `n` alive."""
    import rumor

    rng = random.Random(1)

    def addr(i: int) -> str:  # distinct source IPs: the per-source rate limit is per IP
        return f"10.{i // 62500}.{(i // 250) % 250}.{i % 250 + 1}:7946"

    def sec(us: int) -> float:
        # Half a microsecond past: the binding truncates seconds to whole microseconds, so
        # `handle_timeout(poll_timeout())` can land 1 µs early and not fire the timer.
        return (us + 0.5) / 1e6

    wall = time.perf_counter()
    nodes = [rumor.Node(f"n{i:04d}", addr(i), 0.0, seed=rng.randbytes(32)) for i in range(n)]
    index = {addr(i): i for i in range(n)}
    heap: list[tuple[int, int, int, int, str, bytes]] = []
    scheduled: list[Optional[int]] = [None] * n
    seq = 0
    latency_us = 500
    datagrams = 0

    def after(i: int, now: int) -> None:
        nonlocal seq
        node = nodes[i]
        while (tx := node.poll_transmit(sec(now))) is not None:
            j = index.get(tx.destination)
            if j is not None:
                seq += 1
                heapq.heappush(heap, (now + latency_us, seq, 1, j, node.addr, tx.data))
        while node.poll_event() is not None:
            pass
        due = node.poll_timeout()
        if due is not None:
            due_us = round(due * 1e6)
            if due_us != scheduled[i]:
                scheduled[i] = due_us
                seq += 1
                heapq.heappush(heap, (due_us, seq, 0, i, "", b""))

    nodes[0].join([], 0.0)
    after(0, 0)
    for i in range(1, n):
        seq += 1
        heapq.heappush(heap, (i * 10_000, seq, 2, i, "", b""))
    next_check = 1_000_000
    alive = 0
    now = 0
    while heap:
        now, _, kind, i, source, data = heapq.heappop(heap)
        if kind == 0:
            if scheduled[i] != now:
                continue
            scheduled[i] = None
            nodes[i].handle_timeout(sec(now))
        elif kind == 1:
            nodes[i].handle_datagram(sec(now), source, data)
            datagrams += 1
        else:
            nodes[i].join([addr(rng.randrange(i))], sec(now))
        after(i, now)
        if now >= next_check:
            next_check = now + 1_000_000
            alive = sum(m.state == rumor.State.ALIVE for m in nodes[0].members())
            if alive == n:
                break
    converged = time.perf_counter() - wall
    times = time_calls(nodes[0].members)
    return {"median_us": statistics.median(times) * 1e6, "members": len(nodes[0].members()), "alive": alive,
            "virtual_s": now / 1e6, "wall_s": converged, "datagrams": datagrams}


def measure_agent_members(n: int) -> Result:
    """`n` Agents in this process on 127.0.0.x, each joining a random earlier one, until the
    first sees `n` alive (or 60 s pass)."""
    import rumor

    rng = random.Random(2)

    async def main() -> Result:
        wall = time.perf_counter()
        agents: list[rumor.Agent] = []
        try:
            for i in range(n):
                ip = f"127.0.{i // 250}.{i % 250 + 1}"
                join = [rng.choice(agents).addr] if agents else []
                agent = rumor.Agent(f"a{i:04d}", f"{ip}:0", join=join, preset="lan")
                await agent.__aenter__()
                agents.append(agent)
                if i % 50 == 49:
                    await asyncio.sleep(0.2)
            alive = 0
            deadline = time.perf_counter() + 60
            while time.perf_counter() < deadline:
                alive = sum(m.state == rumor.State.ALIVE for m in agents[0].members())
                if alive == n:
                    break
                await asyncio.sleep(0.5)
            converged = time.perf_counter() - wall
            times = time_calls(agents[0].members)
            return {"median_us": statistics.median(times) * 1e6, "members": len(agents[0].members()),
                    "alive": alive, "wall_s": converged}
        finally:
            for agent in agents:
                agent.close()

    return asyncio.run(main())


# --------------------------------------------------------------------------------------------
# (c) memory

RSS_PROGRAMS = {
    "plain": "import time\ntime.sleep(3)\n",
    "asyncio": "import asyncio\nasyncio.run(asyncio.sleep(3))\n",
    "import": "import time, rumor\ntime.sleep(3)\n",
    "agent": (
        "import time, rumor\n"
        "agent = rumor.Agent.start('idle', '127.0.0.1:0', preset='lan')\n"
        "time.sleep(3)\n"
    ),
    "agent_asyncio": (
        "import asyncio, rumor\n"
        "async def main():\n"
        "    async with rumor.Agent('idle', '127.0.0.1:0', preset='lan') as agent:\n"
        "        stream = agent.events()\n"
        "        async def consume():\n"
        "            async for _ in stream:\n"
        "                pass\n"
        "        task = asyncio.ensure_future(consume())\n"
        "        await asyncio.sleep(3)\n"
        "        report()\n"
        "        await agent.leave()\n"
        "        await task\n"
        "asyncio.run(main())\n"
    ),
}


RSS_PRELUDE = (
    "def report():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmRSS:'):\n"
    "            print('{\"rss_mib\": %.2f}' % (int(line.split()[1]) / 1024), flush=True)\n"
)


def rss_command(variant: str) -> list[str]:
    """A bare interpreter (`-c`, nothing else imported) running the variant, then `report()`."""
    program = RSS_PRELUDE + RSS_PROGRAMS[variant]
    if "report()" not in RSS_PROGRAMS[variant]:
        program += "report()\n"
    return [sys.executable, "-c", program]


MEASUREMENTS: dict[str, Callable[[argparse.Namespace], Result]] = {
    "async_delivery": lambda a: measure_async_delivery(a.events),
    "sync_delivery": lambda a: measure_sync_delivery(a.events),
    "node_events": lambda a: measure_node_events(a.events),
    "gossip_burst": lambda a: measure_gossip_delivery(a.events, 0.0),
    "gossip_paced": lambda a: measure_gossip_delivery(1000, 200.0),
    "node_members_1000": lambda a: measure_node_members(1000),
    "agent_members_1000": lambda a: measure_agent_members(1000),
    "agent_members_1": lambda a: measure_agent_members(1),
}
"""Measurements run as `figures.py --measure NAME`; the `rss_*` ones run `rss_command`."""


# --------------------------------------------------------------------------------------------
# the parent: runs, aggregates, prints


def run_child(name: str, args: argparse.Namespace) -> Result:
    if name.startswith("rss_"):
        cmd = rss_command(name[len("rss_"):])
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--measure", name, "--events", str(args.events)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 300 s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result: Result = json.loads(lines[-1]) if lines else {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    if done.returncode != 0:
        result["exit"] = done.returncode
    return result


def spread(values: Sequence[float], fmt: str) -> str:
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def machine() -> list[str]:
    import rumor

    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    load = os.getloadavg()
    return [
        f"- machine: {model}, {os.cpu_count()} cores (shared with other work), {mem} MiB RAM, "
        f"Linux {platform.release()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), rumor {rumor.__version__} "
        f"from {os.path.dirname(rumor.__file__)}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description="Figures of the rumor Python binding (markdown table).")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement (default %(default)s)")
    parser.add_argument("--events", type=int, default=20000, help="user events per delivery run (default %(default)s)")
    parser.add_argument("--only", nargs="*", default=None, help="measurements to run (default: all)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:
        print(json.dumps(MEASUREMENTS[args.measure](args)), flush=True)
        # The binding's runtime threads may still be completing asyncio futures; exiting at
        # once can crash the interpreter's finalization (see examples/job_router.py, main()).
        time.sleep(0.1)
        return 0

    started = time.perf_counter()
    info = machine()
    names = args.only or [*MEASUREMENTS, *(f"rss_{v}" for v in RSS_PROGRAMS)]
    results: dict[str, list[Result]] = {}
    for run in range(args.runs):  # interleaved: drift of the shared machine hits every figure alike
        for name in names:
            print(f"run {run + 1}/{args.runs}: {name} ...", file=sys.stderr, flush=True)
            results.setdefault(name, []).append(run_child(name, args))

    def ok(name: str) -> list[Result]:
        return [r for r in results.get(name, []) if "error" not in r]

    def errors(name: str) -> str:
        errs = sorted({r["error"] for r in results.get(name, []) if "error" in r})
        crashes = [r["exit"] for r in results.get(name, []) if "exit" in r and "error" not in r]
        out = ""
        if errs:
            out += f" **{len([r for r in results[name] if 'error' in r])} run(s) failed: {'; '.join(errs)}**"
        if crashes:
            out += (f" **in {len(crashes)} of {len(results[name])} runs the child crashed at exit "
                    f"(status {', '.join(str(c) for c in sorted(set(crashes)))}) after reporting**")
        return out

    def vals(name: str, key: str) -> list[float]:
        return [float(r[key]) for r in ok(name)]

    rows: list[tuple[str, str, str]] = []
    n = args.events
    if "async_delivery" in results:
        r = ok("async_delivery")
        rows.append((f"(a) events/s into `async for` (binding; {n} injected, flow-controlled)",
                     spread(vals("async_delivery", "rate"), ",.0f"),
                     f"delivered {spread(vals('async_delivery', 'delivered'), '.0f')} of {n}, "
                     f"missed {sum(x['missed'] for x in r)}" + errors("async_delivery")))
    if "sync_delivery" in results:
        r = ok("sync_delivery")
        rows.append((f"(a) events/s into plain `for` (binding; {n} injected, flow-controlled)",
                     spread(vals("sync_delivery", "rate"), ",.0f"),
                     (f"delivered {spread(vals('sync_delivery', 'delivered'), '.0f')} of {n}, "
                      f"missed {sum(x['missed'] for x in r)}" if r else "") + errors("sync_delivery")))
    if "node_events" in results:
        rows.append((f"(a) events/s from `Node.poll_event()` (sans-IO, same {n} datagrams, no threads)",
                     spread(vals("node_events", "rate"), ",.0f"),
                     f"delivered {spread(vals('node_events', 'delivered'), '.0f')} of {n}; the conversion cost alone"
                     + errors("node_events")))
    if "gossip_burst" in results:
        r = ok("gossip_burst")
        rows.append((f"(a) events/s arriving by gossip ({n} `broadcast`s as fast as accepted, second Agent)",
                     spread(vals("gossip_burst", "rate"), ",.0f"),
                     f"delivered {spread(vals('gossip_burst', 'delivered'), '.0f')} of {n} "
                     f"(best-effort: sender queue 256, oldest dropped; drop counter "
                     f"{spread(vals('gossip_burst', 'tx_dropped'), '.0f')}); sent in "
                     f"{spread(vals('gossip_burst', 'send_s'), '.2f')} s" + errors("gossip_burst")))
    if "gossip_paced" in results:
        rows.append(("(a) events/s arriving by gossip (1000 `broadcast`s paced at 200/s)",
                     spread(vals("gossip_paced", "rate"), ",.0f"),
                     f"delivered {spread(vals('gossip_paced', 'delivered'), '.0f')} of 1000; sender drop counter "
                     f"{spread(vals('gossip_paced', 'tx_dropped'), '.0f')} (evictions from its retransmit queue, not losses)"
                     + errors("gossip_paced")))
    if "node_members_1000" in results:
        r = ok("node_members_1000")
        rows.append(("(b) `Node.members()` µs, 1000 alive (virtual-time cluster of 1000 Nodes)",
                     spread(vals("node_members_1000", "median_us"), ",.0f"),
                     f"median of 200 calls; cluster built in {spread(vals('node_members_1000', 'wall_s'), '.1f')} s "
                     f"wall ({spread(vals('node_members_1000', 'virtual_s'), '.0f')} s virtual, "
                     f"{spread(vals('node_members_1000', 'datagrams'), ',.0f')} datagrams)" + errors("node_members_1000")))
    if "agent_members_1000" in results:
        rows.append(("(b) `Agent.members()` µs, 1000 alive (1000 Agents in one process, UDP on 127.0.0.x)",
                     spread(vals("agent_members_1000", "median_us"), ",.0f"),
                     f"median of 200 calls; alive seen {spread(vals('agent_members_1000', 'alive'), '.0f')}; "
                     f"converged in {spread(vals('agent_members_1000', 'wall_s'), '.1f')} s" + errors("agent_members_1000")))
    if "agent_members_1" in results:
        rows.append(("(b) `Agent.members()` µs, 1 member (the round trip to the agent's task)",
                     spread(vals("agent_members_1", "median_us"), ",.1f"), "median of 200 calls" + errors("agent_members_1")))
    base = vals("rss_plain", "rss_mib")
    base_asyncio = vals("rss_asyncio", "rss_mib")
    labels = {"plain": "plain interpreter (`time.sleep`)", "asyncio": "plain interpreter in `asyncio.run(sleep)`",
              "import": "`import rumor`",
              "agent": "one started Agent (`Agent.start`), idle", "agent_asyncio":
              "one Agent in asyncio with an `async for` waiting, idle"}
    for v in RSS_PROGRAMS:
        name = f"rss_{v}"
        if name in results:
            mib = vals(name, "rss_mib")
            ref, ref_name = (base_asyncio, "asyncio") if v == "agent_asyncio" else (base, "plain")
            delta = (f"+{statistics.median(mib) - statistics.median(ref):.1f} MiB over {ref_name}"
                     if ref and mib and v not in ("plain",) else "")
            rows.append((f"(c) VmRSS MiB: {labels[v]}", spread(mib, ".1f"), (delta + errors(name)).strip()))

    print()
    print(f"Rumor Python binding figures ({args.runs} runs each, median (min–max); {time.strftime('%Y-%m-%d %H:%M')})")
    print()
    for line in info:
        print(line)
    print()
    print("| figure | value | notes |")
    print("|---|---:|---|")
    for figure, value, note in rows:
        print(f"| {figure} | {value} | {note} |")
    print()
    print("Notes: (a) \"binding\" rows inject plaintext datagrams of 64 user events straight into the receiving")
    print("Agent's UDP port, paced by the consumer (≤ 192 outstanding, under the stream's 256 buffer), so they")
    print("measure the hand-over to Python; `async for` pays one asyncio future and one cross-thread wake-up per")
    print("event. Gossip rows are two Agents in one process: `broadcast()` accepts every call, but user broadcasts")
    print("are best-effort gossip (a bounded retransmit queue, a per-packet byte budget), so a burst beyond what")
    print("gossip carries is mostly dropped at the sender without any error. (b) medians of 200 calls.")
    print("(c) `python -c`, nothing else imported, VmRSS after 3 s idle.")
    print()
    print(f"total {time.perf_counter() - started:.0f} s; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
