"""Starting the `tomoe` binary as a real process for the interoperability tests.

`tomoe_bin()` is `$TOMOE_BIN` or target/debug/tomoe; `free_port()` a loopback port
nobody listens on; `running(...)` starts a command, waits for a line of its output
and stops it (SIGTERM, then SIGKILL) when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, List

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0  # seconds for the process to print `ready`


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def tomoe_bin() -> Path:
    configured = os.environ.get("TOMOE_BIN")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else Path.cwd() / path
    return REPO_ROOT / "target" / "debug" / "tomoe"


@contextlib.contextmanager
def running(args: List[str], work: Path, ready: str) -> Iterator[Path]:
    """Runs `tomoe ARGS` until the block ends, once its output (stdout and stderr, in
    `work/output.log`, which it yields) shows `ready`; fails the test with that
    output if the process exits first or does not get ready in time."""
    binary = tomoe_bin()
    if not binary.is_file():
        pytest.fail(f"Tomoe binary {binary} does not exist: build it with `cargo build -p tomoe` "
                    "or point TOMOE_BIN at it", pytrace=False)
    log = work / "output.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([str(binary), *args], stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while ready not in log.read_text(errors="replace"):
            if process.poll() is not None:
                pytest.fail(f"tomoe {args[0]} exited with {process.returncode}:\n"
                            f"{log.read_text(errors='replace')}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"tomoe {args[0]} did not print {ready!r} within {STARTUP_TIMEOUT:.0f} s:\n"
                            f"{log.read_text(errors='replace')}", pytrace=False)
            time.sleep(0.05)
        yield log
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
