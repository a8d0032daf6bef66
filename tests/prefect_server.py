"""A real `prefect server start` for the deployment and worker tests: a subprocess with an environment of
its own (a temporary PREFECT_HOME, its own database), the CLI run against it as a user runs it, and
process groups stopped. The pytest process's environment and the session's Prefect harness stay untouched."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PREFECT = Path(sys.executable).with_name("prefect")
POOL = "reportchain"
SERVER_START_TIMEOUT = 90  # seconds; it takes about 12 s here


@dataclass
class Server:
    api_url: str
    home: Path
    log: Path

    def env(self, **extra: str) -> dict[str, str]:
        """An environment for the CLI and the worker: this server, this home, nothing inherited."""
        return clean_env(self.home, PREFECT_API_URL=self.api_url, **extra)

    def post(self, path: str, body: dict) -> list | dict:
        response = httpx.post(f"{self.api_url}{path}", json=body, timeout=30)
        assert response.status_code < 300, f"POST {path}: {response.status_code} {response.text}"
        return response.json()

    def get(self, path: str) -> dict:
        response = httpx.get(f"{self.api_url}{path}", timeout=30)
        assert response.status_code < 300, f"GET {path}: {response.status_code} {response.text}"
        return response.json()


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The process environment without any PREFECT_* or REPORTCHAIN_* setting, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REPORTCHAIN_"))}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect(server: Server, *args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the prefect CLI against `server` as a user would, without a terminal or standard input."""
    done = subprocess.run([str(PREFECT), *args], cwd=cwd, env=server.env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (f"prefect {' '.join(args)} exited {done.returncode}\n"
                                  f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")
    return done


def stop(proc: subprocess.Popen) -> None:
    """Terminate the process group we started (the process is its leader), then kill it."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def prefect_server(home: Path, database_url: str, **settings: str) -> Iterator[Server]:
    """`prefect server start` on a free port of 127.0.0.1 with its own database, until it answers."""
    if not PREFECT.is_file():
        pytest.fail(f"the prefect CLI is missing: {PREFECT} (run `make install`)")
    port = free_port()
    env = clean_env(home, PREFECT_SERVER_DATABASE_CONNECTION_URL=database_url, **settings)
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        api_url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"prefect server exited {proc.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not up after {SERVER_START_TIMEOUT} s:\n"
                            f"{log.read_text(errors='replace')}")
            time.sleep(0.25)
        yield Server(api_url=api_url, home=home, log=log)
    finally:
        stop(proc)


def deploy_all(server: Server) -> dict[str, dict]:
    """`prefect work-pool create` then `prefect deploy --all` from the project root: deployments by name."""
    prefect(server, "work-pool", "create", POOL, "--type", "process")
    prefect(server, "--no-prompt", "deploy", "--all")
    found = server.post("/deployments/filter", {"limit": 50, "offset": 0})
    deployments = {d["name"]: d for d in found}
    for d in deployments.values():
        d["flow_name"] = server.get(f"/flows/{d['flow_id']}")["name"]
    return deployments
