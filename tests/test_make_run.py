"""``make run`` with broken data: the errors, then the last good build served — or a stop."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.servers import REPO_ROOT, free_port
from tests.test_server_follow import build


def make_run(tmp_path: Path, var: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KG_DATA_DIR": str(tmp_path / "no-data"),  # broken input: every table is missing
        "KG_VAR_DIR": str(var),
        "KG_SERVE_WORKERS": "1",
        "KG_QUERY_WORKERS": "1",
    }
    (tmp_path / "no-data").mkdir(exist_ok=True)
    log = (tmp_path / "make.log").open("wb")
    return subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}", "HOST=127.0.0.1"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # make, kg serve and its workers: one group to stop
    )


def test_make_run_with_broken_data_serves_the_last_good_build(tmp_path: Path) -> None:
    var = tmp_path / "var"
    good = build(var, "A")
    port = free_port()
    process = make_run(tmp_path, var, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "make.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "make.log").read_text()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health["build"] == good
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    output = (tmp_path / "make.log").read_text()
    assert "missing reference table" in output  # the build's errors are printed
    assert "serving the last good build" in output
    assert f"kg: serving build {good}" in output


def test_make_run_with_broken_data_and_no_build_stops(tmp_path: Path) -> None:
    process = make_run(tmp_path, tmp_path / "var", free_port())
    try:
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = (tmp_path / "make.log").read_text()
    assert code != 0
    assert "missing reference table" in output
    assert "run `kg build`" in output
