"""Benchmark the history store at scale: stats, a filtered page, count, durable inserts.

    python -m bench.history_bench --rows 1000000            # temp DB, removed afterwards
    python -m bench.history_bench --db /tmp/h.sqlite3 --keep  # reuse it on the next run
    python -m bench.history_bench --sizes 10k,100k,1M [--json OUT]  # growth, with references

``--sizes`` (see :mod:`bench.history_scaling`) measures insert rate, a filtered page of 100,
month statistics and opening at each size, each against a plain-SQLite reference in the same
run, and how each grows with the row count.

Rows are spread over the 90 days before now (more by day than by night), over six labels, with
3 % corrected by the operator. Each timing is the median of five runs with min-max.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.core import stats
from app.core.history import HistoryStore, NewRecord, RecordFilter, to_utc_text

LABELS = ("cardboard", "glass", "metal", "paper", "plastic", "trash")
LABEL_WEIGHTS = (15, 15, 10, 25, 25, 10)
BINS = {
    "cardboard": "paper",
    "paper": "paper",
    "glass": "glass",
    "metal": "recycling",
    "plastic": "recycling",
    "trash": "residual",
}
# Relative activity per hour of the day (UTC): a station used mostly during the working day.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 12, 13, 14, 14, 12, 9, 6, 4, 3, 2, 1, 1]
SPAN_DAYS = 90
BATCH = 20_000
REPEATS = 5


def _times(rows: int, now: datetime, rng: random.Random) -> list[datetime]:
    start = now - timedelta(days=SPAN_DAYS)
    days = rng.choices(range(SPAN_DAYS), k=rows)
    hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=rows)
    seconds = [d * 86400 + h * 3600 + rng.random() * 3600 for d, h in zip(days, hours, strict=True)]
    seconds.sort()  # a real history is written in time order
    return [start + timedelta(seconds=s) for s in seconds]


def _records(rows: int, now: datetime, rng: random.Random) -> Iterator[NewRecord]:
    for i, created in enumerate(_times(rows, now, rng)):
        label = rng.choices(LABELS, weights=LABEL_WEIGHTS)[0]
        conf = min(0.999, max(0.05, rng.betavariate(5, 1.4)))
        others = rng.sample([x for x in LABELS if x != label], 2)
        camera = rng.random() < 0.7
        yield NewRecord(
            source="camera:0" if camera else f"/home/operator/photos/img_{i:07d}.jpg",
            source_kind="camera" if camera else "file",
            model_id="waste",
            model_version="1.0.0",
            label=label,
            confidence=conf,
            top_k=[(label, conf), (others[0], (1 - conf) * 0.7), (others[1], (1 - conf) * 0.2)],
            bin_id=BINS[label],
            unsure=conf < 0.6,
            created_utc=created,
        )


def generate(path: Path, rows: int, now: datetime, seed: int = 7) -> float:
    """Fill ``path`` with ``rows`` records; returns seconds taken."""
    rng = random.Random(seed)
    started = time.perf_counter()
    store = HistoryStore(path)
    batch: list[NewRecord] = []
    for rec in _records(rows, now, rng):
        batch.append(rec)
        if len(batch) == BATCH:
            store.add_many(batch)
            batch = []
    store.add_many(batch)
    store.close()
    # Corrections in bulk: store.correct() is one durable transaction per call, too slow here.
    corrected = rng.sample(range(1, rows + 1), k=rows * 3 // 100)
    with closing(sqlite3.connect(path)) as conn, conn:
        fixes = []
        for rid in corrected:
            label = rng.choice(LABELS)
            fixes.append((label, BINS[label], to_utc_text(now), label, BINS[label], rid))
        conn.executemany(
            "UPDATE records SET corrected_label = ?, corrected_bin = ?, corrected_utc = ?,"
            " final_label = ?, final_bin = ? WHERE id = ?",
            fixes,
        )
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def timed(fn: Callable[[], object], repeats: int = REPEATS) -> tuple[float, float, float]:
    """(median, min, max) seconds of ``repeats`` calls."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), min(runs), max(runs)


def _ms(t: tuple[float, float, float]) -> str:
    return f"{t[0] * 1000:.1f} ms ({t[1] * 1000:.1f}-{t[2] * 1000:.1f})"


def run(path: Path, rows: int) -> list[tuple[str, str]]:
    results: list[tuple[str, str]] = []
    existing = 0
    if path.exists():
        with closing(sqlite3.connect(path)) as conn:
            existing = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    if existing:
        results.append((f"reused database ({existing:,} rows)", "-"))
    else:
        took = generate(path, rows, datetime.now(UTC))
        results.append((f"generate {rows:,} rows (add_many, 20k per transaction)", f"{took:.1f} s"))
    # Measured with no connection open, so the WAL has been checkpointed away.
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    results.append(("database size on disk", f"{size / 2**20:.0f} MiB"))
    results.append(
        ("open (quick_check + schema check)", _ms(timed(lambda: HistoryStore(path).close())))
    )

    store = HistoryStore(path)
    end = store.query(limit=1)[0].created_utc + timedelta(seconds=1)
    day, month, quarter = (end - timedelta(days=n) for n in (1, 30, 90))
    page = RecordFilter(
        labels=["plastic"], since=end - timedelta(days=60), until=end - timedelta(days=1)
    )
    cases: list[tuple[str, Callable[[], object]]] = [
        ("stats, last 24 h (hourly + daily)", lambda: stats.compute(store, day, end)),
        ("stats, last 30 days (hourly + daily)", lambda: stats.compute(store, month, end)),
        ("stats, last 90 days (daily)", lambda: stats.compute(store, quarter, end)),
        ("newest page of 100, no filter", lambda: store.query(limit=100)),
        ("page of 100: label + 59-day range, offset 5000", lambda: store.query(page, 100, 5000)),
        ("count(same filter)", lambda: store.count(page)),
        (
            "count(text 'img_12'): LIKE over all rows",
            lambda: store.count(RecordFilter(text="img_12")),
        ),
    ]
    results += [(name, _ms(timed(fn))) for name, fn in cases]

    singles = iter(list(_records(40 * REPEATS, datetime.now(UTC), random.Random(1))))

    def add_40() -> None:
        for _ in range(40):
            store.add(next(singles))

    t = timed(add_40)
    each = [x / 40 * 1000 for x in t]
    rate = f"{each[0]:.2f} ms each = {1000 / each[0]:.0f}/s ({each[1]:.2f}-{each[2]:.2f} ms)"
    results.append(("single durable add(), 40 in a row", rate))
    store.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="rows to generate (default 1,000,000)"
    )
    parser.add_argument("--db", type=Path, help="database file (default: in a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--sizes", help="e.g. 10k,100k,1M: growth report (bench.history_scaling)")
    parser.add_argument("--quick", action="store_true", help="with --sizes: fewer repeats")
    parser.add_argument("--json", type=Path, help="with --sizes: also write the section as JSON")
    args = parser.parse_args(argv)
    if args.sizes:
        from bench.history_scaling import main as scaling_main

        extra = ["--quick"] if args.quick else []
        extra += ["--json", str(args.json)] if args.json else []
        return scaling_main(["--sizes", args.sizes, *extra])
    tmp_dir = None
    if args.db is None:
        tmp_dir = Path(tempfile.mkdtemp(prefix="history-bench-"))
        args.db = tmp_dir / "history.sqlite3"
    try:
        results = run(args.db, args.rows)
    finally:
        if tmp_dir is not None and not args.keep:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    print(f"SQLite {sqlite3.sqlite_version}, {args.db}")
    print()
    print("| operation | median of 5 (min-max) |")
    print("|---|---|")
    for name, value in results:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
