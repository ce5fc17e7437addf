"""How the history store grows: 10k, 100k, 1M records, each against plain SQLite.

    python -m bench.history_scaling --sizes 10k,100k,1M [--quick] [--json OUT]
    (also: python -m bench.history_bench --sizes ...)

For each size a fresh database is filled with the rows of :mod:`bench.history_bench` (90 days,
six labels, daytime-heavy; no corrections) and measured, each case against a reference run in
the same process, alternating round by round:

* insert: ``HistoryStore.add_many`` (20k per transaction; schema with 4 indexes and the stats
  triggers) vs ``executemany`` of the same rows into a bare copy of the table;
* durable single ``add()`` vs one INSERT + COMMIT on the bare table (WAL, synchronous=FULL);
* a filtered page of 100 (label + 59-day range; first page and a page half-way through the
  matches) vs the same SQL fetched raw;
* month statistics (``stats.compute`` over 30 days, hourly + daily) vs a naive GROUP BY over
  the rows;
* opening the store (``PRAGMA quick_check`` + schema check) vs a bare connect.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.core import stats
from app.core.history import HistoryStore, RecordFilter, to_utc_text
from app.core.history_schema import INSERT_SQL, MIGRATIONS, SELECT_COLUMNS, insert_row, where_clause
from bench.common import Section, Spread, Target, finish, interleaved, parser, table
from bench.history_bench import BATCH, _records

STATS_TARGET_MS = 300.0
NAIVE_STATS = (
    "SELECT final_label, final_bin, COUNT(*), SUM(confidence), SUM(unsure) FROM records"
    " WHERE created_utc >= ? AND created_utc < ? GROUP BY final_label, final_bin",
    "SELECT substr(created_utc, 1, 13), COUNT(*) FROM records"
    " WHERE created_utc >= ? AND created_utc < ? GROUP BY 1",
)


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


def _bare(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(MIGRATIONS[0][0])  # the records table only: no indexes, no triggers
    return conn


def fill(store: HistoryStore, bare: sqlite3.Connection, rows: int, now: datetime) -> dict[str, Any]:
    """Insert ``rows`` records into both; returns per-batch seconds for each side."""
    app_s: list[float] = []
    bare_s: list[float] = []
    batch: list[Any] = []

    def flush() -> None:
        plain = [insert_row(r) for r in batch]
        began = time.perf_counter()
        store.add_many(batch)
        app_s.append((time.perf_counter() - began) / len(batch))
        began = time.perf_counter()
        bare.execute("BEGIN")
        bare.executemany(INSERT_SQL, plain)
        bare.execute("COMMIT")
        bare_s.append((time.perf_counter() - began) / len(batch))

    for rec in _records(rows, now, random.Random(7)):
        batch.append(rec)
        if len(batch) == BATCH:
            flush()
            batch = []
    if batch:
        flush()
    return {"app": app_s, "bare": bare_s}


def measure(size: int, folder: Path, *, rounds: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    db = folder / f"history-{size}.sqlite3"
    store = HistoryStore(db)
    bare = _bare(folder / f"bare-{size}.sqlite3")
    began = time.perf_counter()
    inserts = fill(store, bare, size, now)
    fill_s = time.perf_counter() - began
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("ANALYZE")
    out: dict[str, Any] = {
        "rows": size,
        "fill_s": fill_s,
        "insert_app": Spread.of(inserts["app"]),
        "insert_bare": Spread.of(inserts["bare"]),
    }

    newest = store.query(limit=1)[0].created_utc
    end = newest + timedelta(seconds=1)
    month = end - timedelta(days=30)
    page = RecordFilter(
        labels=["plastic"], since=end - timedelta(days=60), until=end - timedelta(days=1)
    )
    matches = store.count(page)
    where, params = where_clause(page)
    page_sql = f"{SELECT_COLUMNS}{where} ORDER BY created_utc DESC, id DESC LIMIT ? OFFSET ?"
    raw = sqlite3.connect(db)
    bounds = (to_utc_text(month), to_utc_text(end))

    def naive_stats() -> None:
        for sql in NAIVE_STATS:
            raw.execute(sql, bounds).fetchall()

    cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "page_first": (
            lambda: store.query(page, 100, 0),
            lambda: raw.execute(page_sql, [*params, 100, 0]).fetchall(),
        ),
        "page_middle": (
            lambda: store.query(page, 100, matches // 2),
            lambda: raw.execute(page_sql, [*params, 100, matches // 2]).fetchall(),
        ),
        "stats_month": (lambda: stats.compute(store, month, end), naive_stats),
        "open": (
            lambda: HistoryStore(db).close(),
            lambda: sqlite3.connect(db).execute("SELECT 1").fetchone(),
        ),
    }
    for name, (app_fn, ref_fn) in cases.items():
        samples = interleaved({"app": app_fn, "ref": ref_fn}, rounds=rounds, warmup=1)
        out[f"{name}_app"] = Spread.of(samples["app"])
        out[f"{name}_ref"] = Spread.of(samples["ref"])

    counter = iter(range(10**9))
    fresh = list(_records(40 * rounds + 20, now, random.Random(1)))

    def one_add() -> None:
        store.add(fresh[next(counter) % len(fresh)])

    plain = insert_row(fresh[0])

    def one_bare() -> None:
        bare.execute("BEGIN")
        bare.execute(INSERT_SQL, plain)
        bare.execute("COMMIT")

    samples = interleaved({"app": one_add, "ref": one_bare}, rounds=rounds, per_round=5)
    out["add_app"] = Spread.of(samples["app"])
    out["add_ref"] = Spread.of(samples["ref"])
    out["matches"] = matches
    out["size_mib"] = sum(p.stat().st_size for p in folder.glob(db.name + "*")) / 2**20
    raw.close()
    bare.close()
    store.close()
    return out


def _ms(s: Spread) -> str:
    return f"{s.median * 1e3:.2f} ms ({s.p25 * 1e3:.2f}-{s.p75 * 1e3:.2f})"


def report(results: list[dict[str, Any]]) -> Section:
    section = Section("history", "History store: 10k / 100k / 1M records")
    rows = []
    labels = {
        "insert": "insert (per row, add_many 20k/txn)",
        "add": "durable single add()",
        "page_first": "filtered page of 100 (first)",
        "page_middle": "filtered page of 100 (half-way, OFFSET)",
        "stats_month": "month statistics (30 days, hourly+daily)",
        "open": "open store (quick_check + schema)",
    }
    refs = {
        "insert": "bare executemany, no index/trigger",
        "add": "bare INSERT+COMMIT (WAL, FULL)",
        "page_first": "same SQL, raw fetchall",
        "page_middle": "same SQL, raw fetchall",
        "stats_month": "naive GROUP BY over rows",
        "open": "bare connect",
    }
    for key, label in labels.items():
        for r in results:
            app = r["insert_app"] if key == "insert" else r[f"{key}_app"]
            ref = r["insert_bare"] if key == "insert" else r[f"{key}_ref"]
            value = (
                f"{app.median * 1e6:.1f} µs = {1 / app.median:,.0f} rows/s"
                if key == "insert"
                else _ms(app)
            )
            ref_value = f"{ref.median * 1e6:.1f} µs" if key == "insert" else _ms(ref)
            rows.append([label, f"{r['rows']:,}", value, f"{ref_value} ({refs[key]})",
                         f"{app.median / ref.median:.2f}x"])  # fmt: skip
    md = [
        "Each row: the store against a plain-SQLite reference in the same run (medians, IQR "
        "in brackets). Every size is a fresh database.\n",
        table(["operation", "records", "HistoryStore", "reference", "store / ref"], rows),
    ]
    if len(results) > 1:
        growth = []
        first, last = results[0], results[-1]
        factor = last["rows"] / first["rows"]
        for key, label in labels.items():
            a = first["insert_app" if key == "insert" else f"{key}_app"].median
            b = last["insert_app" if key == "insert" else f"{key}_app"].median
            growth.append([label, f"{b / a:.1f}x for {factor:,.0f}x the rows"])
        md.append(f"\n**Growth from {first['rows']:,} to {last['rows']:,} records.**\n")
        md.append(table(["operation", "time grows"], growth))
    sizes = [f"{r['rows']:,}: {r['size_mib']:.0f} MiB (filled in {r['fill_s']:.0f} s)"
             for r in results]  # fmt: skip
    md.append("\nDatabase size: " + ", ".join(sizes) + ".\n")
    section.markdown = "\n".join(md)
    section.results = {
        str(r["rows"]): {
            k: (v.median if isinstance(v, Spread) else v) for k, v in r.items()
        } for r in results
    }  # fmt: skip
    biggest = results[-1]
    stats_ms = biggest["stats_month_app"].median * 1e3
    met = stats_ms < STATS_TARGET_MS if biggest["rows"] >= 1_000_000 else None
    section.targets.append(Target(
        f"month statistics on 1M records < {STATS_TARGET_MS:.0f} ms", met,
        f"{stats_ms:.1f} ms at {biggest['rows']:,} records"
        + ("" if met is not None else " (1M not run: --quick)"),
    ))  # fmt: skip
    return section


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10k,100k,1M")
    args = p.parse_args(argv)
    started = time.monotonic()
    sizes = sorted(parse_size(s) for s in args.sizes.split(","))
    folder = Path(tempfile.mkdtemp(prefix="history-scaling-"))
    try:
        results = [measure(n, folder, rounds=5 if args.quick else 15) for n in sizes]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return finish(report(results), args, started)


if __name__ == "__main__":
    raise SystemExit(main())
