"""A stand-in as its own process.  :func:`running` (for tests and benches): ``python -m sim.<name>
--port 0 ...``, output to a log file (never a pipe nobody drains), wait for its "listening on
HOST:PORT" line, stop it afterwards (SIGTERM, then SIGKILL after 5 s).  :func:`serve` (the
stand-ins' own ``__main__``): announce that line and serve until SIGTERM or Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def running(module: str, args: list[str], log_file: Path, ready: str, what: str,
            timeout: float = 10.0) -> Iterator[tuple[subprocess.Popen, int]]:
    """``ready``: a regex whose last group is the port.  Yields ``(process, port)``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as out:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(ready, log_file.read_text())
            if m:
                port = int(m.groups()[-1])
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {what} stand-in did not start:\n" + log_file.read_text())
            time.sleep(0.02)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def serve(server, name: str, host: str) -> int:
    """Print ``NAME listening on HOST:PORT`` (what :func:`running` waits for) and run ``server`` (a
    ``socketserver`` server) until SIGTERM or Ctrl-C; close it.  The process's exit status: 0."""
    def stop(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"{name} listening on {host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
