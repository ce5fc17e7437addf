"""A record whose id ``add`` returned survives the process being killed right after."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from app.core.history import HistoryStore

REPO_ROOT = Path(__file__).resolve().parents[2]

# Adds records as fast as it can and prints each id only after add() returned.
CHILD = """
import sys
from app.core.history import HistoryStore, NewRecord
store = HistoryStore(sys.argv[1])
i = 0
while True:
    rid = store.add(NewRecord(source=f"kill-test-{i}", model_id="waste", model_version="1",
                              label="glass", confidence=0.9, top_k=[("glass", 0.9)],
                              bin_id="glass", unsure=False, thumbnail=b"x" * (i % 5000)))
    sys.stdout.write(f"{rid}\\n")
    sys.stdout.flush()
    i += 1
"""


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_ids_printed_before_sigkill_are_on_disk(tmp_path: Path, attempt: int) -> None:
    path = tmp_path / "history.sqlite3"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()  # wait until it is really writing
        assert first.strip().isdigit(), child.stderr.read() if child.stderr else first
        # Let it write a number of records (however slow the machine), then kill it
        # mid-stream at a slightly different moment each attempt.
        lines = [first]
        deadline = time.monotonic() + 60
        while len(lines) < 20 * attempt + 10 and time.monotonic() < deadline:
            lines.append(child.stdout.readline())
        time.sleep(0.05 * attempt)
    finally:
        child.kill()  # SIGKILL on POSIX: no cleanup, no atexit, no checkpoint
    # Read the rest through the same buffered reader: readline() may already hold more
    # lines in its buffer, which communicate() (it reads the raw pipe) would skip.
    assert child.stdout is not None
    assert child.stderr is not None
    out, err = child.stdout.read(), child.stderr.read()
    child.wait(timeout=30)
    assert child.returncode != 0
    text = (b"".join(lines) + out).decode()
    # Only complete lines: the kill may land in the middle of a write.
    printed = [int(line) for line in text.split("\n")[:-1]]
    assert len(printed) > 20, err.decode()

    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with HistoryStore(path) as store:
        assert store.recovered_from is None
        stored = {r.id for r in store.query(limit=len(printed) + 1000)}
        assert set(printed) <= stored
        got = store.get(printed[-1])
        assert got is not None
        assert got.source == f"kill-test-{len(printed) - 1}"
