"""Start the stand-in as a subprocess for tests: ``with running_smsc(tmp) as smsc: smsc.port``."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sim.process import running
from typing import Any

from .server import read_messages

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
    messages = workdir / "smsc-messages.jsonl"
    log_file = workdir / "smsc.log"
    with running("sim.smsc", ["--port", "0", "--messages", str(messages), "--account", ":".join(ACCOUNT),
                              *extra_args], log_file, r"SMSC listening on ([\d.]+):(\d+)", "SMSC",
                 timeout) as (proc, port):
        yield SmscProcess("127.0.0.1", port, messages, log_file, proc)
