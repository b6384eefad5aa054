"""Shared harness of the Python binding's tests.

Starts real native `rumor agent` processes on loopback (`$RUMOR_BIN`, by default
target/debug/rumor of this checkout), reads their HTTP API, waits on conditions with deadlines
and, when a test fails, prints every native agent's members table and the tail of its log.

Every test has a hard deadline (`@pytest.mark.deadline(seconds)`, 120 s by default): SIGALRM
fails it, and if the interpreter is stuck in native code that never returns to Python,
faulthandler dumps every thread's stack and exits the process 30 s later. Native agents are
started with a parent-death signal (`setpriv --pdeathsig KILL` where available) so that even
then none outlives the test run.

Deadlines are generous because CI runs on two cores shared with other work; set
`RUMOR_TEST_TIMEOUT_SCALE=3` on a very slow machine.
"""

from __future__ import annotations

import asyncio
import faulthandler
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RUMOR_BIN = Path(os.environ.get("RUMOR_BIN") or REPO_ROOT / "target" / "debug" / "rumor")
VECTORS = REPO_ROOT / "tests" / "vectors" / "wire.json"

DEFAULT_DEADLINE = 120.0
POLL = 0.1

T = TypeVar("T")


def scale() -> float:
    try:
        return max(0.1, float(os.environ.get("RUMOR_TEST_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0


def scaled(seconds: float) -> float:
    return seconds * scale()


# ---------------------------------------------------------------------------------------------
# Deadlines


class DeadlineExceeded(Exception):
    """A test ran past its hard deadline."""


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    # Lets fixtures see at teardown whether the test failed (to print the agents' logs).
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(autouse=True)
def hard_deadline(request: pytest.FixtureRequest) -> Iterator[None]:
    marker = request.node.get_closest_marker("deadline")
    seconds = scaled(float(marker.args[0]) if marker else DEFAULT_DEADLINE)

    def on_alarm(signum: int, frame: object) -> None:
        raise DeadlineExceeded(f"{request.node.nodeid} exceeded its hard deadline of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    # Last resort when the main thread never comes back to Python (a blocking native call that
    # neither releases nor checks signals): dump every stack and exit.
    faulthandler.dump_traceback_later(seconds + 30, exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()


def run_async(make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 90.0) -> T:
    """Runs `make()` in a fresh event loop, failing the test after `timeout` (scaled) seconds."""

    async def bounded() -> T:
        try:
            return await asyncio.wait_for(make(), scaled(timeout))
        except asyncio.TimeoutError as e:
            raise DeadlineExceeded(f"the test's coroutine did not finish within {scaled(timeout):.1f} s") from e

    return asyncio.run(bounded())


class NotYet(Exception):
    """A polled condition does not hold yet; the message says why."""


def wait_until(what: str, timeout: float, check: Callable[[], T], interval: float = POLL) -> T:
    """Calls `check` until it returns without raising `NotYet` (or OSError) and returns its
    value; fails after `timeout` (scaled) seconds with `what` and the last reason."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        try:
            return check()
        except (NotYet, OSError) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {scaled(timeout):.1f} s waiting for {what}: {last}", pytrace=False)
        time.sleep(interval)


async def wait_until_async(what: str, timeout: float, check: Callable[[], Any], interval: float = POLL) -> Any:
    """`wait_until` for coroutines: the event loop keeps running between checks."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        try:
            value = check()
            if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
                value = await value
            return value
        except (NotYet, OSError) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {scaled(timeout):.1f} s waiting for {what}: {last}", pytrace=False)
        await asyncio.sleep(interval)


def ensure(condition: bool, why: str) -> None:
    """Raises `NotYet(why)` unless `condition`: the body of a polled check."""
    if not condition:
        raise NotYet(why)


# ---------------------------------------------------------------------------------------------
# Ports

_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port free for both UDP and TCP right now and not handed out before in this
    process (a native agent binds the same number twice: UDP for gossip, TCP for HTTP)."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port found")


def udp_port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def port_of(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def split_addr(addr: str) -> tuple[str, int]:
    """`"ip:port"` or `"[v6]:port"` as a socket address tuple."""
    host, port = addr.rsplit(":", 1)
    return host.strip("[]"), int(port)


# ---------------------------------------------------------------------------------------------
# HTTP (http.client, not urllib: no proxy from the environment may intercept loopback)


def http_request(addr: str, method: str, path: str, body: Any = None, timeout: float = 5.0) -> tuple[int, str]:
    host, port = split_addr(addr)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Connection": "close"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def members_view(http: str) -> dict[str, Any]:
    """`GET /v1/members` of the agent serving HTTP at `http`."""
    status, body = http_request(http, "GET", "/v1/members")
    if status != 200:
        raise NotYet(f"GET /v1/members at {http}: status {status}: {body}")
    view = json.loads(body)
    if not isinstance(view, dict) or not isinstance(view.get("members"), list):
        raise AssertionError(f"unexpected /v1/members body: {body}")
    return view


# ---------------------------------------------------------------------------------------------
# Native agents


def _child_env() -> dict[str, str]:
    # The test's environment must not leak into the agents (a developer may have RUMOR_* set).
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUMOR_")}
    env["RUST_LOG"] = os.environ.get("RUMOR_TEST_LOG", "info")
    env["NO_COLOR"] = "1"
    return env


def _pdeathsig_prefix() -> list[str]:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return []
    probe = subprocess.run([setpriv, "--pdeathsig", "KILL", "true"], capture_output=True, check=False)
    return [setpriv, "--pdeathsig", "KILL"] if probe.returncode == 0 else []


_PDEATHSIG: list[str] | None = None


def rumor_command(*args: str) -> list[str]:
    """`rumor ARGS` as a command line, killed if this process dies."""
    global _PDEATHSIG
    if _PDEATHSIG is None:
        _PDEATHSIG = _pdeathsig_prefix()
    return [*_PDEATHSIG, str(RUMOR_BIN), *args]


def run_rumor(*args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Runs a short `rumor` client command to completion; fails the test if it fails."""
    proc = subprocess.run(
        rumor_command(*args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=scaled(timeout),
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"`rumor {' '.join(args)}` failed ({proc.returncode}):\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text[-lines:])


class NativeAgent:
    """One `rumor agent` process on loopback: gossip on UDP `addr`, HTTP on TCP `http` (the same
    port number)."""

    def __init__(self, name: str, port: int, log: Path, proc: subprocess.Popen[bytes]) -> None:
        self.name = name
        self.port = port
        self.addr = f"127.0.0.1:{port}"
        self.http = f"127.0.0.1:{port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = proc

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def view(self) -> dict[str, Any]:
        return members_view(self.http)

    def members(self) -> dict[str, dict[str, Any]]:
        """Its members by name (`{"name", "addr", "state", "incarnation", "meta"}` each)."""
        return {m["name"]: m for m in self.view()["members"]}

    def state_of(self, name: str) -> str | None:
        member = self.members().get(name)
        return None if member is None else str(member["state"])

    def kill(self) -> None:
        """SIGKILL: an ungraceful crash."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=scaled(10))
            self.proc = None

    def table(self) -> str:
        try:
            view = self.view()
        except Exception as e:  # noqa: BLE001 - a diagnostic, never the failure itself
            return f"  {self.name}: no members table ({type(e).__name__}: {e})"
        out = [f"  view of {view.get('self')}:"]
        for m in view["members"]:
            out.append(
                f"    {m.get('name', '?'):<14} {m.get('addr', '?'):<22} {m.get('state', '?'):<8} "
                f"inc={m.get('incarnation', '?'):<4} meta={m.get('meta')}"
            )
        return "\n".join(out)


class NativeCluster:
    """The native agents of one test; all are killed at teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.agents: list[NativeAgent] = []
        self.extra: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        name: str,
        *,
        join: list[str] | tuple[str, ...] = (),
        keyring: Path | None = None,
        label: str | None = None,
        meta: dict[str, str] | None = None,
        preset: str = "local",
    ) -> NativeAgent:
        """Starts `rumor agent` and waits until its `/healthz` answers 200. A port taken by
        another process between choosing and binding it is retried with another."""
        if not RUMOR_BIN.exists():
            pytest.fail(f"the rumor binary {RUMOR_BIN} does not exist (cargo build -p rumor-node, or set RUMOR_BIN)")
        last = ""
        for attempt in range(5):
            port = free_port()
            args = ["agent", "--name", name, "--bind", f"127.0.0.1:{port}", "--http", f"127.0.0.1:{port}"]
            args += ["--preset", preset]
            if join:
                args += ["--join", ",".join(join)]
            if keyring is not None:
                args += ["--keyring", str(keyring)]
            if label is not None:
                args += ["--label", label]
            for k, v in (meta or {}).items():
                args += ["--meta", f"{k}={v}"]
            log = self.workdir / f"{name}.{attempt}.log"
            with open(log, "wb") as log_file:
                proc = subprocess.Popen(
                    rumor_command(*args),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log_file,
                    env=_child_env(),
                )
            agent = NativeAgent(name, port, log, proc)
            deadline = time.monotonic() + scaled(20)
            while True:
                if proc.poll() is not None:
                    proc.wait()
                    last = f"agent {name} exited during start-up ({proc.returncode}); log:\n{tail(log, 30)}"
                    break
                try:
                    if http_request(agent.http, "GET", "/healthz", timeout=2)[0] == 200:
                        self.agents.append(agent)
                        return agent
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    pytest.fail(f"{name}'s /healthz at {agent.http} did not answer 200 within 20 s; log:\n{tail(log, 30)}")
                time.sleep(0.05)
        pytest.fail(f"could not start native agent {name}: {last}")

    def agent(self, name: str) -> NativeAgent:
        for a in self.agents:
            if a.name == name:
                return a
        raise KeyError(name)

    def spawn(self, *args: str, stdout: Path) -> subprocess.Popen[bytes]:
        """A long-running `rumor` client (e.g. `monitor`) writing stdout to a file; killed at
        teardown."""
        with open(stdout, "wb") as out, open(stdout.with_suffix(".err"), "wb") as err:
            proc = subprocess.Popen(
                rumor_command(*args), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=_child_env()
            )
        self.extra.append(proc)
        return proc

    def dump(self) -> str:
        out = []
        for a in self.agents:
            out.append(a.table())
        for a in self.agents:
            out.append(f"--- log of {a.name} ({a.log.name}, last 40 lines):\n{tail(a.log)}")
        return "\n".join(out)

    def close(self) -> None:
        for proc in self.extra:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=scaled(10))
        for a in self.agents:
            a.kill()


@pytest.fixture
def natives(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NativeCluster]:
    """Starts native agents on demand (`natives.start("n1")`); kills them at teardown and, if
    the test failed, prints their members tables and logs."""
    cluster = NativeCluster(tmp_path)
    try:
        yield cluster
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed and cluster.agents:
            sys.stdout.write("\n=== native agents at the failure\n" + cluster.dump() + "\n")
        cluster.close()


@pytest.fixture
def vectors() -> dict[str, Any]:
    with open(VECTORS, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def keyring_file(path: Path, keys: list[str]) -> Path:
    """A native agent's keyring file: a JSON array of base64 keys, the first is primary."""
    path.write_text(json.dumps(keys))
    return path


def describe(event: object) -> str:
    """An event for failure messages, whether or not the binding gives it a useful repr."""
    fields = getattr(type(event), "__match_args__", ())
    parts = []
    for f in fields:
        value = getattr(event, f, "?")
        if f == "member":
            value = f"{getattr(value, 'name', '?')}/{getattr(value, 'state', '?')}"
        parts.append(f"{f}={value!r}")
    return f"{type(event).__name__}({', '.join(parts)})"
