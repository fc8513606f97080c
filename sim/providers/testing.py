"""Start the stand-in as a subprocess for tests: ``with running_providers(tmp) as p: p.base_url``."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sim.process import running

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
    log_file = workdir / "providers.log"
    with running("sim.providers", ["--port", "0", "--api-key", API_KEY, *extra_args], log_file,
                 r"PROVIDERS listening on ([\d.]+):(\d+)", "providers", timeout) as (proc, port):
        yield ProvidersProcess("127.0.0.1", port, log_file, proc)
