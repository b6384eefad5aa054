"""Job router: worker processes that find each other through Rumor and route jobs to live
members of a pool, reacting to failures within seconds.

Every process is a worker *and* a router. It runs a `rumor.Agent` whose metadata says what it
is and where its job endpoint listens::

    {"role": "worker", "pool": "gpu", "http": "127.0.0.1:8301", "state": "active"}

and a small HTTP/1.1 endpoint (stdlib `asyncio.start_server`, no dependencies). A job posted to
any worker (`POST /jobs`) is routed to a live member of the requested pool:

- The routing table is `agent.members()` (read once, after subscribing to `agent.events()` so
  nothing is lost in between) kept current by the event stream: `MemberJoined`,
  `MemberUpdated` and `MemberAlive` add or update a worker, `MemberSuspect` marks it degraded
  (used only when no healthy member of the pool is left), `MemberFailed` and `MemberLeft`
  remove it. If the stream ever falls behind (`EventStream.missed`), and every 10 s anyway,
  the table is rebuilt from `agent.members()`.
- Jobs with a `key` go to the member chosen by rendezvous (highest-random-weight) hashing of
  the key over the pool's healthy members, so the same key sticks to the same worker while it
  lives and only the keys of a lost worker move. Jobs without a key go to the least recently
  used healthy member.
- If the chosen member does not answer (connection refused, timeout, 5xx), the job is retried
  on the next candidate (up to 3 attempts) and the member is avoided for a few seconds, which
  bridges the time until Rumor declares it suspect or failed.
- `POST /pool` changes this worker's pool and announces it with `agent.set_meta`; every
  router sees `MemberUpdated` and moves it.
- `POST /drain` broadcasts a user event (`agent.broadcast("drain", b"<name>")`; an empty
  payload drains every worker). The target stops taking jobs, says so in its metadata
  (`state=draining`), finishes what it runs, then leaves the cluster gracefully and exits.
  Routers stop sending it jobs as soon as the event arrives.
- SIGTERM or SIGINT: stop taking jobs, finish the running ones, `agent.leave()` (members see
  the worker *left*, not *failed*), exit 0. A second signal exits at once without leaving.

Run three workers locally (three terminals, from the repository root; `--preset local` has
loopback timings: failures are detected in about two seconds)::

    python bindings-python/examples/job_router.py serve --name w1 --bind 127.0.0.1:7101 \
        --http 127.0.0.1:8101 --pool gpu --preset local
    python bindings-python/examples/job_router.py serve --name w2 --bind 127.0.0.1:7102 \
        --http 127.0.0.1:8102 --pool gpu --preset local --join 127.0.0.1:7101
    python bindings-python/examples/job_router.py serve --name w3 --bind 127.0.0.1:7103 \
        --http 127.0.0.1:8103 --pool cpu --preset local --join 127.0.0.1:7101

then, in a fourth, submit jobs through any of them and watch where they run::

    python bindings-python/examples/job_router.py submit --http 127.0.0.1:8103 --pool gpu -n 20 --interval 0.25
    python bindings-python/examples/job_router.py routes --http 127.0.0.1:8103

What to watch: `kill -9` w2 while jobs flow. The first jobs after the kill show a refused
attempt on w2 and run on w1 (`attempts: w2:refused w1:ok`); within about a second w3 logs
`w2 suspect` and stops trying it, then `w2 failed` removes it. `job_router.py set-pool --http
127.0.0.1:8103 gpu` moves w3 into the gpu pool (`MemberUpdated` on the others);
`job_router.py drain --http 127.0.0.1:8101 --target w1` drains w1, which leaves gracefully.
Ctrl-C (or SIGTERM) on a worker makes it leave: the others log `w3 left`, not `failed`.
`--keyring-file FILE` (a JSON array of base64 keys, as the native `rumor agent` reads)
encrypts the cluster; a native `rumor agent --preset local --join 127.0.0.1:7101` can join the
same cluster and shows the workers' metadata with `rumor members`.

`demo.py` next to this file runs all of that in one go. Needs Python 3.9+ and the `rumor`
package (`pip install ./bindings-python`); type-checks with `mypy --strict`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http.client
import itertools
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import rumor

log = logging.getLogger("job_router")

MAX_ATTEMPTS = 3
"""A job is tried on at most this many members."""
FORWARD_TIMEOUT = 5.0
"""Seconds a forwarded job may take (connect, run and answer) before the member is skipped."""
AVOID_AFTER_ERROR = 5.0
"""Seconds a member that failed a forwarded job is used only as a last resort."""
RESYNC_INTERVAL = 10.0
"""Seconds between rebuilds of the routing table from `agent.members()`."""
MAX_BODY = 1 << 20
"""Largest request body the endpoint accepts."""

JsonObject = dict[str, Any]


# --------------------------------------------------------------------------------------------
# The routing table


def split_hostport(text: str) -> tuple[str, int]:
    """`"host:port"` or `"[v6]:port"` as `(host, port)`; ValueError if it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


@dataclass
class Route:
    """One worker as this router sees it."""

    name: str
    pool: str
    http: tuple[str, int]
    suspect: bool = False
    """Rumor suspects it has failed: used only if no healthy member of the pool is left."""
    draining: bool = False
    """It announced (metadata or a drain event) that it takes no more jobs: never used."""
    last_used: float = 0.0
    """When a job was last sent to it (monotonic), for least-recently-used choice."""
    avoid_until: float = 0.0
    """A job sent to it failed: degraded until then (monotonic)."""

    def healthy(self, now: float) -> bool:
        return not self.suspect and now >= self.avoid_until

    def describe(self, now: float) -> str:
        if self.draining:
            return "draining"
        if self.suspect:
            return "suspect"
        if now < self.avoid_until:
            return f"avoided {self.avoid_until - now:.1f}s"
        return "healthy"


def route_of(member: rumor.Member) -> Optional[Route]:
    """The route to `member` if it is a worker ready for jobs (alive or suspect, with a pool
    and an endpoint in its metadata), else None."""
    meta = member.meta
    if meta.get("role") != "worker" or "pool" not in meta or "http" not in meta:
        return None
    if member.state not in (rumor.State.ALIVE, rumor.State.SUSPECT):
        return None
    try:
        endpoint = split_hostport(meta["http"])
    except ValueError:
        log.warning("%s has a malformed http address in its metadata: %r", member.name, meta["http"])
        return None
    return Route(
        name=member.name,
        pool=meta["pool"],
        http=endpoint,
        suspect=member.state == rumor.State.SUSPECT,
        draining=meta.get("state") == "draining",
    )


def rendezvous_score(key: str, name: str) -> int:
    """Highest-random-weight hashing: the member with the highest score for a key owns it."""
    digest = hashlib.blake2b(f"{key}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class RoutingTable:
    """Workers by name, kept from the membership snapshot and the event stream."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}

    def upsert(self, member: rumor.Member) -> Optional[str]:
        """Adds or updates `member` (removes it if it is no longer a usable worker); returns a
        description of the change, or None if nothing changed."""
        new = route_of(member)
        old = self.routes.get(member.name)
        if new is None:
            return self.remove(member.name, "not a worker now")
        if old is not None:
            # What this router learnt locally survives an update from the cluster.
            new.last_used, new.avoid_until = old.last_used, old.avoid_until
            new.draining = new.draining or old.draining
            if (old.pool, old.http, old.suspect, old.draining) == (new.pool, new.http, new.suspect, new.draining):
                self.routes[member.name] = new
                return None
        self.routes[member.name] = new
        if old is None:
            return f"+ {new.name} pool={new.pool} http={new.http[0]}:{new.http[1]}"
        changes = [
            f"{what} {a}->{b}"
            for what, a, b in (
                ("pool", old.pool, new.pool),
                ("suspect", old.suspect, new.suspect),
                ("draining", old.draining, new.draining),
            )
            if a != b
        ]
        return f"~ {new.name} " + (", ".join(changes) or "endpoint changed")

    def mark_suspect(self, name: str) -> Optional[str]:
        route = self.routes.get(name)
        if route is None or route.suspect:
            return None
        route.suspect = True
        return f"? {name} suspect: degraded"

    def mark_draining(self, name: str) -> Optional[str]:
        route = self.routes.get(name)
        if route is None or route.draining:
            return None
        route.draining = True
        return f"~ {name} draining: no more jobs"

    def remove(self, name: str, why: str) -> Optional[str]:
        if self.routes.pop(name, None) is None:
            return None
        return f"- {name} {why}"

    def sync(self, members: list[rumor.Member]) -> list[str]:
        """Rebuilds the table from a full membership list; returns the changes."""
        changes = [self.upsert(m) for m in members]
        known = {m.name for m in members}
        changes += [self.remove(name, "gone from the member list") for name in list(self.routes) if name not in known]
        return [c for c in changes if c is not None]

    def candidates(self, pool: str, key: Optional[str], now: float) -> list[Route]:
        """The members of `pool` to try, best first: healthy ones, then degraded ones (suspect,
        or recently failed a job); never draining ones. Keyed jobs are ordered by rendezvous
        hashing, others least recently used first."""
        usable = [r for r in self.routes.values() if r.pool == pool and not r.draining]
        if key is not None:
            order: Callable[[Route], Any] = lambda r: -rendezvous_score(key, r.name)  # noqa: E731
        else:
            order = lambda r: (r.last_used, r.name)  # noqa: E731
        healthy = sorted((r for r in usable if r.healthy(now)), key=order)
        degraded = sorted((r for r in usable if not r.healthy(now)), key=order)
        return healthy + degraded

    def as_json(self, now: float) -> list[JsonObject]:
        return [
            {"name": r.name, "pool": r.pool, "http": f"{r.http[0]}:{r.http[1]}", "status": r.describe(now)}
            for r in sorted(self.routes.values(), key=lambda r: r.name)
        ]


# --------------------------------------------------------------------------------------------
# Minimal HTTP/1.1 (one request per connection)


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    path: str
    body: bytes

    def json(self) -> JsonObject:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as e:
            raise HttpError(400, f"the body is not JSON: {e}") from e
        if not isinstance(data, dict):
            raise HttpError(400, "the body must be a JSON object")
        return data


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


async def read_request(reader: asyncio.StreamReader) -> Request:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError as e:
        raise HttpError(400, "malformed request line") from e
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            try:
                length = int(value.strip())
            except ValueError as e:
                raise HttpError(400, "malformed Content-Length") from e
    if not 0 <= length <= MAX_BODY:
        raise HttpError(400, f"the body must be at most {MAX_BODY} bytes")
    body = await reader.readexactly(length) if length else b""
    return Request(method.upper(), target.split("?", 1)[0], body)


def encode_response(status: int, payload: JsonObject) -> bytes:
    body = json.dumps(payload).encode() + b"\n"
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def http_post(addr: tuple[str, int], path: str, payload: JsonObject, timeout: float) -> tuple[int, JsonObject]:
    """POSTs JSON to `addr` and returns the status and the JSON answer (asyncio client)."""

    async def exchange() -> tuple[int, JsonObject]:
        reader, writer = await asyncio.open_connection(addr[0], addr[1])
        try:
            body = json.dumps(payload).encode()
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {addr[0]}:{addr[1]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            raw = await reader.read(MAX_BODY + 4096)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        head, _, rest = raw.partition(b"\r\n\r\n")
        try:
            status = int(head.split(b" ", 2)[1])
            answer = json.loads(rest) if rest else {}
        except (IndexError, ValueError) as e:
            raise ConnectionError(f"malformed answer from {addr[0]}:{addr[1]}") from e
        return status, answer if isinstance(answer, dict) else {"answer": answer}

    return await asyncio.wait_for(exchange(), timeout)


# --------------------------------------------------------------------------------------------
# The worker


class Refused(Exception):
    """This worker takes no more jobs (it is draining or leaving)."""


class Worker:
    def __init__(self, agent: rumor.Agent, meta: dict[str, str]) -> None:
        self.agent = agent
        self.name = agent.name
        self.meta = dict(meta)
        self.table = RoutingTable()
        self.draining = False
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.stop = asyncio.Event()
        self.stop_reason = ""
        self.job_ids = itertools.count(1)
        self.counts = {"jobs_run": 0, "jobs_routed": 0, "retries": 0, "jobs_unroutable": 0}
        self.table.upsert(self.self_member())

    def self_member(self) -> rumor.Member:
        for m in self.agent.members():
            if m.name == self.name:
                return m
        raise RuntimeError("the agent does not list itself")

    def note(self, change: Optional[str]) -> None:
        if change is not None:
            log.info("route %s", change)

    # -- membership ------------------------------------------------------------------------

    async def watch(self, stream: rumor.EventStream) -> None:
        """Applies the agent's events to the routing table until the agent stops."""
        missed = 0
        async for event in stream:
            self.apply(event)
            if stream.missed != missed:
                log.warning("event stream fell behind (%d missed): resyncing", stream.missed - missed)
                missed = stream.missed
                self.resync()
        log.info("event stream ended (the agent stopped)")

    def apply(self, event: rumor.Event) -> None:
        if isinstance(event, (rumor.MemberJoined, rumor.MemberUpdated, rumor.MemberAlive)):
            if event.member.name != self.name:
                self.note(self.table.upsert(event.member))
        elif isinstance(event, rumor.MemberSuspect):
            self.note(self.table.mark_suspect(event.member.name))
        elif isinstance(event, rumor.MemberFailed):
            self.note(self.table.remove(event.member.name, "failed"))
        elif isinstance(event, rumor.MemberLeft):
            self.note(self.table.remove(event.member.name, "left"))
        elif isinstance(event, rumor.UserEvent):
            self.on_user_event(event.origin, event.name, event.payload)
        elif isinstance(event, rumor.NameConflict):
            log.warning("name conflict: %s is claimed by %s (known at %s)", event.name, event.claimed, event.known)
        elif isinstance(event, rumor.Joined):
            log.info("joined the cluster")

    def on_user_event(self, origin: str, name: str, payload: bytes) -> None:
        if name != "drain":
            return
        target = payload.decode("utf-8", "replace")
        if target in ("", self.name):
            asyncio.ensure_future(self.drain(f"drain event from {origin}"))
        if target:
            self.note(self.table.mark_draining(target))
        else:
            for route in list(self.table.routes.values()):
                self.note(self.table.mark_draining(route.name))

    def resync(self) -> None:
        for change in self.table.sync(self.agent.members()):
            self.note(change)

    async def warn_if_alone(self, seeds: list[str]) -> None:
        """The agent retries its seeds for ever, silently: say so if none answered."""
        while seeds:
            await asyncio.sleep(5)
            try:
                if len(self.agent.members()) > 1:
                    return
            except rumor.AgentClosed:
                return
            log.warning("no seed has answered yet (%s): still trying (wrong address, key or label?)", ", ".join(seeds))

    async def resync_forever(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_INTERVAL)
            try:
                self.resync()
            except rumor.AgentClosed:
                return

    # -- jobs ----------------------------------------------------------------------------------

    async def execute(self, job: JsonObject) -> JsonObject:
        """Runs a job here: `work_ms` of (simulated) work, then a digest of the payload."""
        if self.draining:
            raise Refused(f"{self.name} is draining")
        self.in_flight += 1
        self.idle.clear()
        try:
            work_ms = job.get("work_ms", 20)
            await asyncio.sleep(max(0, min(int(work_ms) if isinstance(work_ms, int) else 20, 60_000)) / 1000)
            digest = hashlib.sha256(str(job.get("payload", "")).encode()).hexdigest()[:16]
            self.counts["jobs_run"] += 1
            return {"worker": self.name, "pool": self.meta["pool"], "digest": digest}
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.idle.set()

    async def route(self, job: JsonObject) -> tuple[int, JsonObject]:
        """Sends `job` to a live member of its pool, retrying on the next candidate."""
        pool = job.get("pool")
        if not isinstance(pool, str) or not pool:
            raise HttpError(400, "the job needs a pool")
        raw_key = job.get("key")
        key = str(raw_key) if raw_key is not None else None
        job_id = f"{self.name}-{next(self.job_ids)}"
        work = {"id": job_id, "payload": job.get("payload", ""), "work_ms": job.get("work_ms", 20)}
        attempts: list[str] = []
        tried: set[str] = set()
        started = time.monotonic()
        while len(attempts) < MAX_ATTEMPTS:
            now = time.monotonic()
            candidates = [r for r in self.table.candidates(pool, key, now) if r.name not in tried]
            if not candidates:
                break
            target = candidates[0]
            tried.add(target.name)
            target.last_used = now
            if attempts:
                self.counts["retries"] += 1
            try:
                if target.name == self.name:
                    result = await self.execute(work)
                else:
                    status, result = await http_post(target.http, "/run", work, FORWARD_TIMEOUT)
                    if status != 200:
                        raise Refused(f"HTTP {status}: {result.get('error', '')}")
            except (OSError, asyncio.TimeoutError, Refused) as e:
                why = (
                    "refused"
                    if isinstance(e, ConnectionRefusedError)
                    else "timeout"
                    if isinstance(e, asyncio.TimeoutError)
                    else type(e).__name__
                )
                attempts.append(f"{target.name}:{why}")
                # Avoided until Rumor has an opinion (suspect, failed) or the time is up.
                target.avoid_until = time.monotonic() + AVOID_AFTER_ERROR
                log.warning("job %s: %s did not take it (%s: %s); trying another", job_id, target.name, why, e)
                continue
            attempts.append(f"{target.name}:ok")
            self.counts["jobs_routed"] += 1
            elapsed_ms = round((time.monotonic() - started) * 1000, 1)
            return 200, {"job": job_id, "pool": pool, "ran_on": target.name, "attempts": attempts,
                         "ms": elapsed_ms, "result": result}
        self.counts["jobs_unroutable"] += 1
        return 503, {"job": job_id, "pool": pool, "error": f"no live member of pool {pool!r} took the job",
                     "attempts": attempts}

    # -- control -------------------------------------------------------------------------------

    async def set_pool(self, pool: str) -> None:
        self.meta["pool"] = pool
        await self.agent.set_meta(self.meta)
        self.note(self.table.upsert(self.self_member()))
        log.info("now in pool %s (announced with set_meta)", pool)

    async def drain(self, why: str) -> None:
        """Stops taking jobs, announces it, finishes the running ones, then stops the worker
        (which leaves the cluster)."""
        if self.draining:
            return
        self.draining = True
        log.info("draining (%s): no new jobs, %d running", why, self.in_flight)
        self.meta["state"] = "draining"
        with contextlib.suppress(rumor.AgentClosed):
            await self.agent.set_meta(self.meta)
        self.table.mark_draining(self.name)
        try:
            await asyncio.wait_for(self.idle.wait(), 30)
        except asyncio.TimeoutError:
            log.warning("%d jobs still running after 30 s; leaving anyway", self.in_flight)
        self.shutdown(why)

    def shutdown(self, why: str) -> None:
        if not self.stop.is_set():
            self.stop_reason = why
            self.stop.set()

    # -- HTTP ------------------------------------------------------------------------------------

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = await asyncio.wait_for(read_request(reader), 10)
                status, answer = await self.dispatch(request)
            except HttpError as e:
                status, answer = e.status, {"error": str(e)}
            except (Refused, rumor.RumorError) as e:  # draining, or the agent is leaving
                status, answer = 503, {"error": str(e)}
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ValueError):
                status, answer = 400, {"error": "malformed or incomplete request"}
            writer.write(encode_response(status, answer))
            await writer.drain()
        except OSError:
            pass  # the client went away
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def dispatch(self, request: Request) -> tuple[int, JsonObject]:
        now = time.monotonic()
        route = (request.method, request.path)
        if route == ("POST", "/jobs"):
            return await self.route(request.json())
        if route == ("POST", "/run"):
            return 200, await self.execute(request.json())
        if route == ("GET", "/routes"):
            return 200, {"self": self.name, "routes": self.table.as_json(now)}
        if route == ("GET", "/status"):
            stats = self.agent.stats() if self.agent.running else {}
            return 200, {
                "name": self.name, "pool": self.meta["pool"], "draining": self.draining,
                "in_flight": self.in_flight, **self.counts,
                "members_alive": stats.get("members_alive"), "members_suspect": stats.get("members_suspect"),
            }
        if route == ("POST", "/pool"):
            pool = request.json().get("pool")
            if not isinstance(pool, str) or not pool:
                raise HttpError(400, "give the new pool as {\"pool\": NAME}")
            await self.set_pool(pool)
            return 200, {"name": self.name, "pool": pool}
        if route == ("POST", "/drain"):
            target = request.json().get("target", "")
            if not isinstance(target, str):
                raise HttpError(400, "target must be a member name (or empty for every worker)")
            # Every other member gets it as a UserEvent; the sender itself does not, so it
            # applies the event here too.
            await self.agent.broadcast("drain", target.encode())
            self.on_user_event(self.name, "drain", target.encode())
            return 200, {"broadcast": "drain", "target": target or "every worker"}
        if request.path in ("/jobs", "/run", "/routes", "/status", "/pool", "/drain"):
            raise HttpError(405, f"{request.method} is not allowed on {request.path}")
        raise HttpError(404, f"no such endpoint: {request.path}")


# --------------------------------------------------------------------------------------------
# serve


def load_keyring(path: Optional[str]) -> list[str]:
    """A keyring file as the native agent reads it: a JSON array of base64 keys, primary first."""
    if path is None:
        return []
    with open(path, encoding="utf-8") as f:
        keys = json.load(f)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise SystemExit(f"{path} is not a JSON array of base64 keys")
    return [str(k) for k in keys]


async def serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    http_host, http_port = split_hostport(args.http or f"{split_hostport(args.bind)[0]}:0")
    worker_ref: list[Worker] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not worker_ref:  # not started yet
            writer.write(encode_response(503, {"error": "starting"}))
            writer.close()
            return
        await worker_ref[0].serve_connection(reader, writer)

    # The endpoint first: its real port goes into the metadata the agent starts with.
    server = await asyncio.start_server(on_connection, http_host, http_port)
    bound = server.sockets[0].getsockname()
    advertised_host = bound[0]
    if advertised_host in ("0.0.0.0", "::"):
        advertised_host = split_hostport(args.advertise)[0] if args.advertise else "127.0.0.1"
        if not args.advertise:
            log.warning("HTTP on a wildcard address without --advertise: announcing 127.0.0.1")
    meta = {"role": "worker", "pool": args.pool, "http": f"{advertised_host}:{bound[1]}", "state": "active"}

    seeds = [seed for item in args.join for seed in item.split(",") if seed]
    agent = rumor.Agent(
        args.name,
        args.bind,
        join=seeds,
        advertise=args.advertise,
        keyring=load_keyring(args.keyring_file),
        label=args.label,
        meta=meta,
        preset=args.preset,
    )
    async with agent:
        # Subscribe before reading the member list: no change can fall in between.
        stream = agent.events()
        worker = Worker(agent, meta)
        worker.resync()
        worker_ref.append(worker)
        log.info(
            "%s up: gossip %s, jobs on http://%s (pool %s, preset %s%s); %d members known",
            args.name, agent.addr, meta["http"], args.pool, args.preset,
            ", encrypted" if args.keyring_file else "", len(agent.members()),
        )

        signals = [0]

        def on_signal(signum: int) -> None:
            signals[0] += 1
            if signals[0] == 1:
                worker.shutdown(signal.Signals(signum).name)
            else:
                log.warning("second %s: stopping at once, without leaving", signal.Signals(signum).name)
                agent.close()
                os._exit(128 + signum)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)

        tasks = [
            asyncio.ensure_future(worker.watch(stream)),
            asyncio.ensure_future(worker.resync_forever()),
            asyncio.ensure_future(worker.warn_if_alone(seeds)),
        ]
        await worker.stop.wait()

        log.info("stopping (%s): finishing %d running jobs, then leaving", worker.stop_reason, worker.in_flight)
        if not worker.draining:
            worker.draining = True
            worker.meta["state"] = "draining"
            with contextlib.suppress(rumor.AgentClosed):
                await agent.set_meta(worker.meta)
        try:
            await asyncio.wait_for(worker.idle.wait(), 10)
        except asyncio.TimeoutError:
            log.warning("%d jobs still running; leaving anyway", worker.in_flight)
        server.close()
        acknowledged = await agent.leave()
        log.info("left the cluster gracefully (%d members acknowledged)", acknowledged)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await server.wait_closed()
    return 0


# --------------------------------------------------------------------------------------------
# Client commands (blocking, http.client)


def call(endpoint: str, method: str, path: str, payload: Optional[JsonObject] = None) -> tuple[int, JsonObject]:
    host, port = split_hostport(endpoint)
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        body = json.dumps(payload).encode() if payload is not None else None
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = json.loads(response.read() or b"{}")
        return response.status, data if isinstance(data, dict) else {"answer": data}
    finally:
        conn.close()


def submit(args: argparse.Namespace) -> int:
    failures = 0
    for i in range(args.n):
        job: JsonObject = {"pool": args.pool, "payload": f"job {i}", "work_ms": args.work_ms}
        if args.key is not None:
            job["key"] = args.key.replace("{i}", str(i))
        sent = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        try:
            status, answer = call(args.http, "POST", "/jobs", job)
        except OSError as e:
            print(f"{sent} job {i}: {args.http} unreachable: {e}", flush=True)
            failures += 1
        else:
            attempts = " ".join(answer.get("attempts", []))
            if status == 200:
                print(f"{sent} {answer['job']:>8} pool={args.pool} -> {answer['ran_on']:<4} "
                      f"attempts: {attempts:<28} {answer['ms']:>6} ms", flush=True)
            else:
                failures += 1
                print(f"{sent} job {i}: HTTP {status} {answer.get('error', '')} attempts: {attempts}", flush=True)
        if args.interval and i + 1 < args.n:
            time.sleep(args.interval)
    return 1 if failures else 0


def show(args: argparse.Namespace) -> int:
    status, answer = call(args.http, "GET", "/routes" if args.command == "routes" else "/status")
    if args.command == "routes":
        print(f"routing table of {answer.get('self')}:")
        for r in answer.get("routes", []):
            print(f"  {r['name']:<8} pool={r['pool']:<5} {r['http']:<21} {r['status']}")
    else:
        print(json.dumps(answer, indent=2))
    return 0 if status == 200 else 1


def control(args: argparse.Namespace) -> int:
    if args.command == "set-pool":
        status, answer = call(args.http, "POST", "/pool", {"pool": args.pool})
    else:
        status, answer = call(args.http, "POST", "/drain", {"target": args.target})
    print(json.dumps(answer))
    return 0 if status == 200 else 1


# --------------------------------------------------------------------------------------------


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run a worker (until SIGTERM/SIGINT or a drain event)")
    s.add_argument("--name", required=True, help="unique member name")
    s.add_argument("--bind", default="127.0.0.1:7946", help="UDP gossip address (default %(default)s)")
    s.add_argument("--join", action="append", default=[], metavar="HOST:PORT[,...]",
                   help="seeds to join through (repeatable or comma separated)")
    s.add_argument("--pool", default="cpu", help="pool this worker serves (default %(default)s)")
    s.add_argument("--http", help="job endpoint HOST:PORT (default: the bind host, any free port)")
    s.add_argument("--advertise", help="gossip address others reach this worker at")
    s.add_argument("--keyring-file", help="JSON array of base64 keys (primary first); encrypts gossip")
    s.add_argument("--label", default="", help="cluster label")
    s.add_argument("--preset", default="lan", choices=rumor.PRESETS, help="timing preset (default %(default)s)")

    j = sub.add_parser("submit", help="submit jobs through a worker and show where they ran")
    j.add_argument("--http", required=True, help="any worker's job endpoint HOST:PORT")
    j.add_argument("--pool", required=True)
    j.add_argument("-n", type=int, default=10, help="number of jobs (default %(default)s)")
    j.add_argument("--interval", type=float, default=0.0, help="seconds between jobs")
    j.add_argument("--key", help="routing key (jobs with one key stick to one worker); {i} is the job number")
    j.add_argument("--work-ms", type=int, default=20, help="simulated work per job (default %(default)s)")

    for name, what in (("routes", "show a worker's routing table"), ("status", "show a worker's counters")):
        r = sub.add_parser(name, help=what)
        r.add_argument("--http", required=True)

    p = sub.add_parser("set-pool", help="move a worker to another pool (announced with set_meta)")
    p.add_argument("--http", required=True)
    p.add_argument("pool")

    d = sub.add_parser("drain", help="broadcast a drain user event through a worker")
    d.add_argument("--http", required=True)
    d.add_argument("--target", default="", help="the worker to drain (default: every worker)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if args.command == "serve":
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stdout,
            format=f"%(asctime)s.%(msecs)03d {args.name} %(levelname).1s %(message)s",
            datefmt="%H:%M:%S",
        )
        try:
            return asyncio.run(serve(args))
        except (rumor.ConfigError, rumor.BindError, rumor.KeyringError) as e:
            print(f"job_router: {e}", file=sys.stderr)
            return 2
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "submit": submit, "routes": show, "status": show, "set-pool": control, "drain": control,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
