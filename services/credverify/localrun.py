"""Run credverify commands and services as local processes, the way an operator would.

Used by the demo, the benchmarks and the end-to-end tests; not by the services themselves.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(bootstrap: str, topic_prefix: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(KAFKA_BOOTSTRAP_SERVERS=bootstrap, CREDVERIFY_TOPIC_PREFIX=topic_prefix, PYTHONUNBUFFERED="1")
    return env


def run_cli(args: list[str], *, env: dict[str, str], cwd: Path, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
    """Run `credverify ARGS`; on an unexpected exit code fail with everything it printed."""
    result = subprocess.run([sys.executable, "-m", "credverify.cli", *args], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError("credverify %s exited %d:\n%s%s" % (
            " ".join(args), result.returncode, result.stdout, result.stderr))
    return result


class Service:
    """A long-running `credverify ...` process with its output in a log file."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.log_path = cwd / ("%s.log" % name)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "credverify.cli", *args], env=env, cwd=cwd,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def assert_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError("%s exited with %s:\n%s" % (self.name, self.process.returncode, self.log()[-4000:]))

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float = 60.0,
             services: tuple[Service, ...] = ()) -> T:
    """Call ``probe`` until it returns something other than None; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            service.assert_running()
        value = probe()
        if value is not None:
            return value
        time.sleep(0.2)
    logs = "".join("\n--- %s ---\n%s" % (s.name, s.log()[-3000:]) for s in services)
    raise AssertionError("timed out after %.0f s waiting for %s%s" % (timeout, what, logs))


def health_status(target: str, service: str = "") -> int | None:
    with grpc.insecure_channel(target) as channel:
        try:
            return int(health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=2).status)
        except grpc.RpcError:
            return None


def serving(target: str) -> bool | None:
    return True if health_status(target) == health_pb2.HealthCheckResponse.SERVING else None
