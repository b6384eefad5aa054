"""Runs the job router (job_router.py) end to end on loopback and narrates what happens.

    python bindings-python/examples/demo.py [--keep-logs]

1. Starts four workers (w1, w2, w3 in pool gpu, w4 in pool cpu) with `--preset local`, plus a
   native `rumor agent` (target/debug/rumor or target/release/rumor of this checkout, or
   $RUMOR_BIN; skipped if there is none) that joins the same cluster as an observer.
2. Submits jobs through w4: unkeyed ones go round the gpu pool, keyed ones stick to a worker.
3. SIGKILLs w2 while jobs flow: shows the attempts that hit it, when w4 marked it suspect and
   failed, and that no job tried it after that.
4. Drains w3 with a user event (`job_router.py drain`, i.e. `agent.broadcast("drain", b"w3")`):
   it finishes, leaves gracefully and exits 0.
5. Moves w4 into the gpu pool (`agent.set_meta`): gpu jobs now go to w1 and w4.
6. SIGTERMs w1 and w4: both leave gracefully (exit 0), and the native agent lists w1, w3 and w4
   as `left` and only w2 as `failed`.

Every process is killed on exit, whatever happens. Needs the `rumor` package installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Optional, TypeVar

HERE = Path(__file__).resolve().parent
ROUTER = HERE / "job_router.py"
REPO = HERE.parents[1]
T0 = time.monotonic()

T = TypeVar("T")


def say(text: str) -> None:
    print(f"[t+{time.monotonic() - T0:6.2f}s] {text}", flush=True)


def free_port(taken: set[int]) -> int:
    """A loopback port free for UDP and TCP (a native agent binds both kinds on its ports)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        if port not in taken:
            taken.add(port)
            return port


def wait_for(what: str, timeout: float, check: Callable[[], Optional[T]]) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value is not None:
                return value
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def native_binary() -> Optional[Path]:
    candidates: list[str | Path] = [os.environ.get("RUMOR_BIN", ""), REPO / "target" / "debug" / "rumor",
                                    REPO / "target" / "release" / "rumor"]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    return None


class Cluster:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.http: dict[str, str] = {}
        self.gossip: dict[str, str] = {}
        self.ports: set[int] = set()

    def start_worker(self, name: str, pool: str, join: Optional[str]) -> None:
        gossip, http = f"127.0.0.1:{free_port(self.ports)}", f"127.0.0.1:{free_port(self.ports)}"
        cmd = [sys.executable, str(ROUTER), "serve", "--name", name, "--bind", gossip, "--http", http,
               "--pool", pool, "--preset", "local"]
        if join:
            cmd += ["--join", join]
        self.spawn(name, cmd)
        self.http[name], self.gossip[name] = http, gossip
        wait_for(f"{name}'s job endpoint", 30, lambda: self.routes(name))

    def start_native(self, binary: Path, join: str) -> str:
        gossip, http = f"127.0.0.1:{free_port(self.ports)}", f"127.0.0.1:{free_port(self.ports)}"
        self.spawn("native", [str(binary), "agent", "--name", "native", "--bind", gossip, "--http", http,
                              "--join", join, "--preset", "local", "--meta", "role=observer"])
        self.http["native"] = http
        return http

    def spawn(self, name: str, cmd: list[str]) -> None:
        out = open(self.logs / f"{name}.log", "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1", RUST_LOG=os.environ.get("RUST_LOG", "info"))
        self.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        out.close()

    def log(self, name: str) -> list[str]:
        return (self.logs / f"{name}.log").read_text(errors="replace").splitlines()

    def router(self, *args: str) -> list[str]:
        """Runs a job_router.py client command; returns its output lines."""
        done = subprocess.run([sys.executable, str(ROUTER), *args], capture_output=True, text=True, timeout=60)
        return (done.stdout + done.stderr).splitlines()

    def routes(self, name: str) -> Optional[dict[str, str]]:
        """`{member: status}` of a worker's routing table, None if it does not answer."""
        import http.client

        host, port = self.http[name].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            conn.request("GET", "/routes")
            data = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        return {r["name"]: f"{r['pool']}/{r['status']}" for r in data["routes"]}

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs.values():
            proc.wait()


def show(lines: list[str], indent: str = "    ") -> None:
    for line in lines:
        print(indent + line, flush=True)


def run(cluster: Cluster) -> int:
    problems: list[str] = []

    # 1. The cluster -----------------------------------------------------------------------------
    say("starting w1 (gpu), w2 (gpu), w3 (gpu), w4 (cpu) with --preset local")
    cluster.start_worker("w1", "gpu", None)
    seed = cluster.gossip["w1"]
    for name, pool in (("w2", "gpu"), ("w3", "gpu"), ("w4", "cpu")):
        cluster.start_worker(name, pool, seed)
    binary = native_binary()
    if binary is not None:
        say(f"starting a native agent ({binary.relative_to(REPO) if binary.is_relative_to(REPO) else binary}) "
            "as an observer (meta role=observer)")
        cluster.start_native(binary, seed)
    want = {"w1", "w2", "w3", "w4"}

    def routes_to_all(name: str) -> Callable[[], Optional[bool]]:
        return lambda: (cluster.routes(name) or {}).keys() == want or None

    for name in sorted(want):
        wait_for(f"{name} to route to every worker", 30, routes_to_all(name))
    say("every worker routes to w1..w4; w4's table:")
    show(cluster.router("routes", "--http", cluster.http["w4"]))

    def members() -> list[str]:
        assert binary is not None
        return subprocess.run(
            [str(binary), "members", "--http", cluster.http["native"]], capture_output=True, text=True, timeout=10
        ).stdout.splitlines()

    if binary is not None:
        wait_for("the native agent to see 5 alive members", 30,
                 lambda: sum(" alive" in line for line in members()) == 5 or None)
        say("the native agent's view (`rumor members`), Python workers' metadata included:")
        show(members())

    # 2. Routing -------------------------------------------------------------------------------
    say("6 unkeyed gpu jobs through w4 (least recently used member first):")
    show(cluster.router("submit", "--http", cluster.http["w4"], "--pool", "gpu", "-n", "6"))
    say("4 gpu jobs with key user-7 (rendezvous hashing: one key, one worker):")
    lines = cluster.router("submit", "--http", cluster.http["w4"], "--pool", "gpu", "-n", "4", "--key", "user-7")
    show(lines)
    say("2 cpu jobs through w1:")
    show(cluster.router("submit", "--http", cluster.http["w1"], "--pool", "cpu", "-n", "2"))

    # 3. SIGKILL ---------------------------------------------------------------------------------
    say("submitting a gpu job through w4 every 0.2 s; SIGKILL w2 after 1 s")
    output: list[str] = []
    submitter = threading.Thread(target=lambda: output.extend(cluster.router(
        "submit", "--http", cluster.http["w4"], "--pool", "gpu", "-n", "40", "--interval", "0.2")))
    submitter.start()
    time.sleep(1.0)
    cluster.procs["w2"].send_signal(signal.SIGKILL)
    killed_at = time.time()
    say(f"SIGKILL w2 (at {time.strftime('%H:%M:%S', time.localtime(killed_at))}.{int(killed_at * 1000) % 1000:03d})")
    submitter.join()

    def since_kill(line: str) -> float:
        hms, ms = line.split()[0].split(".")
        h, m, s = (int(x) for x in hms.split(":"))
        day = time.localtime(killed_at)
        then = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, h, m, s, 0, 0, -1)) + int(ms) / 1000
        return then - killed_at

    hit = [line for line in output if "w2:" in line and since_kill(line) >= 0]
    retried = [line for line in output if sum(":" in t for t in line.split("attempts:")[-1].split()) > 1]
    show([line for line in output if -0.5 <= since_kill(line) <= 1.5])
    print("    ...", flush=True)
    w4_about_w2 = [line for line in cluster.log("w4") if "w2" in line and " route " in line and since_kill(line) >= 0]
    say("w4's log about w2 after the kill:")
    show([f"{line}   (+{since_kill(line):.2f}s)" for line in w4_about_w2])
    ok = [line for line in output if "-> " in line]
    after = [line for line in output if since_kill(line) > 0]
    summary = (f"{len(ok)}/{len(output)} jobs ran; after the kill {len(hit)} job(s) tried w2 "
               f"(last at +{max((since_kill(h) for h in hit), default=0.0):.2f}s), "
               f"{len(retried)} needed a retry, {sum('-> w2' in line for line in after)} ran on w2")
    say(summary)
    if len(ok) != len(output) or any("-> w2" in line for line in after):
        problems.append("a job failed or ran on w2 after the kill: " + summary)
    if not any("failed" in line for line in w4_about_w2):
        problems.append("w4 never removed w2 as failed")

    # 4. Drain ---------------------------------------------------------------------------------
    say("drain w3: `job_router.py drain --http <w1> --target w3` (agent.broadcast('drain', b'w3'))")
    show(cluster.router("drain", "--http", cluster.http["w1"], "--target", "w3"))
    code = cluster.procs["w3"].wait(timeout=30)
    say(f"w3 exited with {code}; its last lines:")
    show(cluster.log("w3")[-4:])
    if code != 0:
        problems.append(f"w3 exited {code} after the drain")
    show(cluster.router("submit", "--http", cluster.http["w4"], "--pool", "gpu", "-n", "3"))

    # 5. Pool change -----------------------------------------------------------------------------
    say("move w4 to the gpu pool: `job_router.py set-pool --http <w4> gpu` (agent.set_meta)")
    show(cluster.router("set-pool", "--http", cluster.http["w4"], "gpu"))
    wait_for("w1 to see w4 in the gpu pool", 10,
             lambda: (cluster.routes("w1") or {}).get("w4", "").startswith("gpu/") or None)
    show([line for line in cluster.log("w1") if "w4 pool" in line])
    show(cluster.router("submit", "--http", cluster.http["w1"], "--pool", "gpu", "-n", "4"))

    # 6. SIGTERM ---------------------------------------------------------------------------------
    say("SIGTERM w1 and w4")
    for name in ("w1", "w4"):
        cluster.procs[name].send_signal(signal.SIGTERM)
    for name in ("w1", "w4"):
        code = cluster.procs[name].wait(timeout=30)
        last = [line for line in cluster.log(name) if "stopping" in line or "left the cluster" in line]
        say(f"{name} exited with {code}")
        show(last)
        if code != 0 or not any("gracefully" in line for line in last):
            problems.append(f"{name} did not leave gracefully (exit {code})")
    if binary is not None:
        time.sleep(1.0)
        say("the native agent's view now:")
        view = members()
        show(view)
        states = {line.split()[0]: line for line in view if line and line.split()[0] in want}
        for name in ("w1", "w3", "w4"):
            if " left" not in states.get(name, ""):
                problems.append(f"the native agent does not list {name} as left")
        if " failed" not in states.get("w2", ""):
            problems.append("the native agent does not list w2 as failed")
        cluster.procs["native"].send_signal(signal.SIGTERM)
        say(f"native agent SIGTERMed, exited with {cluster.procs['native'].wait(timeout=30)}")

    if problems:
        say("PROBLEMS:")
        show(problems)
        return 1
    say("all as expected")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the job router demo on loopback.")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed at the end)")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="job-router-demo-"))
    cluster = Cluster(logs)
    try:
        return run(cluster)
    finally:
        cluster.stop_all()
        if args.keep_logs:
            print(f"logs in {logs}", flush=True)
        else:
            shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
