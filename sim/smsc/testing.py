"""Start the stand-in as a subprocess for tests: ``with running_smsc(tmp) as smsc: smsc.port``."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .server import read_messages

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = ("openlend", "sandbox")


@dataclass
class SmscProcess:
    host: str
    port: int
    messages_file: Path
    log_file: Path
    process: subprocess.Popen
    system_id: str = ACCOUNT[0]
    password: str = ACCOUNT[1]

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        return read_messages(self.messages_file, to=to)

    def wait_for(self, to: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The messages to ``to`` once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(to)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)


@contextlib.contextmanager
def running_smsc(workdir: Path, *extra_args: str, timeout: float = 10.0) -> Iterator[SmscProcess]:
    """Run ``python -m sim.smsc --port 0`` (its own process), wait for its port, stop it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    messages = workdir / "smsc-messages.jsonl"
    log_file = workdir / "smsc.log"
    # Output goes to a file, not a pipe: nobody drains a pipe, and a full one would stall the server.
    with log_file.open("w") as out:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim.smsc", "--port", "0", "--messages", str(messages),
             "--account", ":".join(ACCOUNT), *extra_args],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        port = None
        while port is None:
            m = re.search(r"SMSC listening on ([\d.]+):(\d+)", log_file.read_text())
            if m:
                port = int(m.group(2))
            elif proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the SMSC stand-in did not start:\n" + log_file.read_text())
            else:
                time.sleep(0.02)
        yield SmscProcess("127.0.0.1", port, messages, log_file, proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
