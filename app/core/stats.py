"""Statistics over the history, computed with SQL aggregates (rows are never loaded).

Local time: SQLite groups records into UTC hours (or UTC quarter-hours when the zone's offset is
not a whole number of hours, e.g. India or Nepal) and Python folds those buckets into local
hours and days using the zone's offset *at each bucket*, so days that change to or from daylight
saving time get their 23 or 25 hours and every record lands in the right local day. The one
limitation: a zone whose offset is not a multiple of 15 minutes (historical local mean time
only) would have its hour boundaries rounded to the quarter hour.

``tz=None`` everywhere means the computer's local zone, with its daylight-saving rules.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from app.core.history import HistoryStore

Bucket = Literal["auto", "hour", "day"]
Period = Literal["day", "week", "month"]
# "auto" gives an hourly series up to this span (a 31-day month plus a DST hour fits).
AUTO_HOURLY_SPAN = timedelta(days=32)


@dataclass(frozen=True)
class Stats:
    """Numbers for the period ``[since, until)``; labels and bins are the final ones.

    ``per_hour`` holds (local hour start as an aware datetime, count) for every hour of the
    period, or nothing when hourly buckets were not asked for; ``per_day`` holds (local date,
    count) for every day. Rates and the mean are 0.0 when ``total`` is 0. Hour starts in the
    repeated hour of a DST change carry ``fold=1`` and, per PEP 495, never compare equal to
    datetimes in another tzinfo: compare ``h.astimezone(UTC)`` when matching them up.
    """

    since: datetime
    until: datetime
    total: int
    by_label: tuple[tuple[str, int], ...]
    by_bin: tuple[tuple[str, int], ...]
    per_hour: tuple[tuple[datetime, int], ...]
    per_day: tuple[tuple[date, int], ...]
    mean_confidence: float
    unsure: int
    corrected: int

    @property
    def unsure_rate(self) -> float:
        return self.unsure / self.total if self.total else 0.0

    @property
    def correction_rate(self) -> float:
        """Share of records the operator corrected."""
        return self.corrected / self.total if self.total else 0.0

    def to_rows(self) -> list[list[str]]:
        """``section, key, value`` rows (header first) for ``csv.writer``."""
        rows = [
            ["section", "key", "value"],
            ["summary", "since", self.since.isoformat()],
            ["summary", "until", self.until.isoformat()],
            ["summary", "total", str(self.total)],
            ["summary", "mean_confidence", f"{self.mean_confidence:.4f}"],
            ["summary", "unsure", str(self.unsure)],
            ["summary", "unsure_rate", f"{self.unsure_rate:.4f}"],
            ["summary", "corrected", str(self.corrected)],
            ["summary", "correction_rate", f"{self.correction_rate:.4f}"],
        ]
        rows += [["label", name, str(n)] for name, n in self.by_label]
        rows += [["bin", name, str(n)] for name, n in self.by_bin]
        rows += [["hour", start.isoformat(), str(n)] for start, n in self.per_hour]
        rows += [["day", day.isoformat(), str(n)] for day, n in self.per_day]
        return rows


def _local(moment: datetime, tz: tzinfo | None) -> datetime:
    """``moment`` in ``tz``; ``None`` is the system zone (``astimezone()`` applies its DST)."""
    return moment.astimezone(tz)


def _bucket_minutes(since: datetime, until: datetime, tz: tzinfo | None) -> Literal[15, 60]:
    """60 when the zone's offset is a whole number of hours throughout, else 15."""
    moment = since
    while True:
        offset = _local(moment, tz).utcoffset() or timedelta()
        if offset % timedelta(hours=1):
            return 15
        if moment >= until:
            return 60
        moment = min(moment + timedelta(hours=12), until)


def compute(
    store: HistoryStore,
    since: datetime,
    until: datetime,
    *,
    bucket: Bucket = "auto",
    tz: tzinfo | None = None,
) -> Stats:
    """Statistics for records with ``since <= created < until`` (naive datetimes are local).

    ``bucket``: "hour" fills ``per_hour`` and ``per_day``, "day" only ``per_day``, "auto" is
    "hour" for periods up to 32 days. Raises ``HistoryError`` as the store does.
    """
    since_utc, until_utc = since.astimezone(UTC), until.astimezone(UTC)
    if until_utc <= since_utc:
        raise ValueError("until must be later than since")
    if bucket == "auto":
        bucket = "hour" if until_utc - since_utc <= AUTO_HOURLY_SPAN else "day"
    minutes = _bucket_minutes(since_utc, until_utc, tz)
    rows = store.aggregate(since_utc, until_utc, bucket_minutes=minutes)

    by_label: Counter[str] = Counter()
    by_bin: Counter[str] = Counter()
    per_bucket: Counter[datetime] = Counter()
    total = unsure = corrected = 0
    confidence_sum = 0.0
    for row in rows:
        total += row.total
        unsure += row.unsure
        corrected += row.corrected
        confidence_sum += row.confidence_sum
        by_label[row.label] += row.total
        by_bin[row.bin_id] += row.total
        per_bucket[row.bucket_utc] += row.total

    # Every bucket of the period, empty ones included, so charts have no gaps.
    step = timedelta(minutes=minutes)
    first = since_utc.replace(
        minute=since_utc.minute - since_utc.minute % minutes, second=0, microsecond=0
    )
    per_hour: Counter[datetime] = Counter()  # keyed by the UTC instant of the local hour start
    per_day: Counter[date] = Counter()
    moment = first
    while moment < until_utc:
        local = _local(moment, tz)
        count = per_bucket.get(moment, 0)
        if bucket == "hour":
            per_hour[moment - timedelta(minutes=local.minute)] += count
        per_day[local.date()] += count
        moment += step

    def ranked(counter: Counter[str]) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(counter.items(), key=lambda item: (-item[1], item[0])))

    return Stats(
        since=since,
        until=until,
        total=total,
        by_label=ranked(by_label),
        by_bin=ranked(by_bin),
        per_hour=tuple((_local(k, tz), n) for k, n in sorted(per_hour.items())),
        per_day=tuple(sorted(per_day.items())),
        mean_confidence=confidence_sum / total if total else 0.0,
        unsure=unsure,
        corrected=corrected,
    )


def _midnight(day: date, tz: tzinfo | None) -> datetime:
    if tz is None:  # a naive local time made aware by the system's rules for that date
        return datetime.combine(day, time()).astimezone()
    return datetime.combine(day, time(), tzinfo=tz)


def period_bounds(
    period: Period, now: datetime | None = None, *, tz: tzinfo | None = None
) -> tuple[datetime, datetime]:
    """``(since, until)`` of the local calendar day, ISO week (Monday first) or month
    containing ``now`` (default: the current time), as aware datetimes."""
    today = _local(now or datetime.now(UTC), tz).date()
    if period == "day":
        start, end = today, today + timedelta(days=1)
    elif period == "week":
        start = today - timedelta(days=today.weekday())
        end = start + timedelta(days=7)
    elif period == "month":
        start = today.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"period must be 'day', 'week' or 'month', not {period!r}")
    return _midnight(start, tz), _midnight(end, tz)
