"""Start the stand-in as a subprocess for tests: ``with running_providers(tmp) as p: p.base_url``."""

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

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sandbox-key"


@dataclass
class ProvidersProcess:
    host: str
    port: int
    log_file: Path
    process: subprocess.Popen
    api_key: str = API_KEY

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_file.read_text()


@contextlib.contextmanager
def running_providers(workdir: Path, *extra_args: str, timeout: float = 10.0) -> Iterator[ProvidersProcess]:
    """Run ``python -m sim.providers --port 0`` (its own process), wait for its port, stop it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_file = workdir / "providers.log"
    with log_file.open("w") as out:  # a file, not a pipe nobody drains
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.Popen([sys.executable, "-m", "sim.providers", "--port", "0", "--api-key", API_KEY,
                                 *extra_args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        port = None
        while port is None:
            m = re.search(r"PROVIDERS listening on ([\d.]+):(\d+)", log_file.read_text())
            if m:
                port = int(m.group(2))
            elif proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the providers stand-in did not start:\n" + log_file.read_text())
            else:
                time.sleep(0.02)
        yield ProvidersProcess("127.0.0.1", port, log_file, proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
