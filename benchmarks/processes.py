"""Processes the HTTP benchmarks run against: the platform's real web server (gunicorn,
config.wsgi, DEBUG off) and a real Celery worker, both on the bench database and the
broker dev.py started, plus the timing helper every benchmark prints with.

Shared so that each benchmark measures the same server configuration, not its own copy."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
T = TypeVar("T")


def timed(label: str, action: Callable[[], T], *, width: int = 62) -> tuple[float, T]:
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    print(f"  {label:<{width}} {elapsed:8.2f} s", flush=True)
    return elapsed, result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    port: int, *, workers: int = 2, threads: int = 4, keep_alive: int = 2, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """gunicorn with DEBUG off and the ingest throttle raised: the benchmarks measure the
    server, not the per-key rate limit a partner would normally hit first."""
    environment = dict(os.environ)
    environment.update(
        {
            "DJANGO_DEBUG": "false",
            "INGEST_RATE": "1000000/min",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_LOG_LEVEL": "WARNING",
        }
    )
    environment.update(env or {})
    return subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--keep-alive",
            str(keep_alive),
            "--log-level",
            "warning",
        ],
        env=environment,
        cwd=ROOT,
        start_new_session=True,
    )


def wait_http_ok(
    port: int, path: str, headers: dict[str, str], process: subprocess.Popen[bytes], *, timeout: float = 60
) -> None:
    """Until `path` answers 200 (the server has imported the project and reaches the database)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            client.request("GET", path, headers=headers)
            response = client.getresponse()
            response.read()
            client.close()
            if response.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer within {timeout:.0f} s")


def start_worker(concurrency: int, log_path: Path, *, queues: str | None = None) -> subprocess.Popen[bytes]:
    """A real `celery worker` (prefork); --purge drops messages an earlier run left that
    name rows which no longer exist. `queues` (e.g. "chat") starts one lane's worker, as
    `dev.py run` does; without it the worker takes every lane."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the worker's life
    return subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--purge",
            "--hostname",
            f"bench-{queues or 'all'}-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *(["--queues", queues] if queues else []),
        ],
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=ROOT,
    )


def wait_worker_ready(process: subprocess.Popen[bytes], log_path: Path, *, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while b"ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker did not start:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], *, timeout: float = 20) -> None:
    """SIGTERM to the process's own group (it was started in a new session), then wait;
    kill the group if it does not stop in time."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
