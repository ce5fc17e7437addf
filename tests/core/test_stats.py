"""Statistics checked against hand-computed numbers, local days and DST changes."""

from __future__ import annotations

import csv
import io
import random
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pytest

from app.core.history import HistoryStore, NewRecord
from app.core.stats import compute, period_bounds

BINS = {"glass": "glass", "plastic": "recycling", "metal": "recycling", "paper": "paper"}


def rec(label: str, conf: float, at: datetime) -> NewRecord:
    return NewRecord(
        source="camera:0",
        model_id="waste",
        model_version="1",
        label=label,
        confidence=conf,
        top_k=[(label, conf)],
        bin_id=BINS[label],
        unsure=conf < 0.6,
        created_utc=at,
    )


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def zone(name: str) -> tzinfo:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        return zoneinfo.ZoneInfo(name)  # type: ignore[no-any-return]
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip(f"time zone data for {name} is not installed")


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    s = HistoryStore(tmp_path / "h.sqlite3" if request.param == "file" else ":memory:")
    yield s
    s.close()


def test_numbers_match_hand_computation(store: HistoryStore) -> None:
    store.add(rec("glass", 0.9, utc(2024, 3, 10, 8, 10)))
    store.add(rec("plastic", 0.5, utc(2024, 3, 10, 8, 50)))  # unsure
    fixed = store.add(rec("plastic", 0.8, utc(2024, 3, 10, 9, 5)))
    store.add(rec("paper", 0.7, utc(2024, 3, 11, 23, 59, 59)))
    store.add(rec("paper", 0.2, utc(2024, 3, 12, 0, 0)))  # until is exclusive
    store.add(rec("paper", 0.2, utc(2024, 3, 9, 23, 59)))  # before since
    store.correct(fixed, "metal", "recycling")

    s = compute(store, utc(2024, 3, 10), utc(2024, 3, 12), tz=UTC)
    assert s.total == 4
    assert s.by_label == (("glass", 1), ("metal", 1), ("paper", 1), ("plastic", 1))
    assert s.by_bin == (("recycling", 2), ("glass", 1), ("paper", 1))
    assert s.mean_confidence == pytest.approx((0.9 + 0.5 + 0.8 + 0.7) / 4)
    assert (s.unsure, s.unsure_rate) == (1, 0.25)
    assert (s.corrected, s.correction_rate) == (1, 0.25)
    assert s.per_day == ((date(2024, 3, 10), 3), (date(2024, 3, 11), 1))
    assert len(s.per_hour) == 48
    hours = {h: n for h, n in s.per_hour if n}
    assert hours == {utc(2024, 3, 10, 8): 2, utc(2024, 3, 10, 9): 1, utc(2024, 3, 11, 23): 1}


def test_partial_quarter_hours_at_the_edges_are_exact(store: HistoryStore) -> None:
    for minute in (5, 6, 8, 14, 16):
        store.add(rec("glass", 0.9, utc(2024, 3, 10, 8, minute)))
    for minute in (0, 59):
        store.add(rec("glass", 0.9, utc(2024, 3, 10, 9, minute)))
    store.add(rec("glass", 0.9, utc(2024, 3, 10, 10, 6, 59)))
    store.add(rec("glass", 0.9, utc(2024, 3, 10, 10, 7)))
    s = compute(store, utc(2024, 3, 10, 8, 6), utc(2024, 3, 10, 10, 7), tz=UTC)
    assert s.total == 7  # 08:06 .. 10:06:59
    assert compute(store, utc(2024, 3, 10, 8, 6), utc(2024, 3, 10, 8, 9), tz=UTC).total == 2


def test_local_midnight_decides_the_day(store: HistoryStore) -> None:
    plus2 = timezone(timedelta(hours=2))
    store.add(rec("glass", 0.9, utc(2024, 3, 10, 21, 59)))  # 23:59 local, 10 March
    store.add(rec("glass", 0.9, utc(2024, 3, 10, 22, 30)))  # 00:30 local, 11 March
    since, until = period_bounds("day", utc(2024, 3, 10, 12), tz=plus2)
    assert (since, until) == (
        datetime(2024, 3, 10, tzinfo=plus2),
        datetime(2024, 3, 11, tzinfo=plus2),
    )
    s = compute(store, since, until, tz=plus2)
    assert s.total == 1
    assert s.per_day == ((date(2024, 3, 10), 1),)
    assert s.per_hour[-1] == (datetime(2024, 3, 10, 23, tzinfo=plus2), 1)
    two_days = compute(store, since, until + timedelta(days=1), tz=plus2)
    assert two_days.per_day == ((date(2024, 3, 10), 1), (date(2024, 3, 11), 1))
    # The same instants seen from UTC fall on one day.
    assert compute(store, utc(2024, 3, 10), utc(2024, 3, 11), tz=UTC).per_day == (
        (date(2024, 3, 10), 2),
    )


def test_half_hour_offset_uses_local_hours(store: HistoryStore) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    store.add(rec("paper", 0.8, utc(2024, 3, 10, 18, 20)))  # 23:50 local, 10 March
    store.add(rec("paper", 0.8, utc(2024, 3, 10, 18, 35)))  # 00:05 local, 11 March
    store.add(rec("paper", 0.8, utc(2024, 3, 10, 18, 45)))  # 00:15 local, 11 March
    since = datetime(2024, 3, 10, tzinfo=india)
    s = compute(store, since, since + timedelta(days=2), tz=india)
    assert s.per_day == ((date(2024, 3, 10), 1), (date(2024, 3, 11), 2))
    assert len(s.per_hour) == 48
    assert all(
        h.minute == 0 and h.utcoffset() == timedelta(hours=5, minutes=30) for h, _ in s.per_hour
    )
    busy = {h.hour: n for h, n in s.per_hour if n}
    assert busy == {23: 1, 0: 2}


def test_daylight_saving_days_have_23_and_25_hours(store: HistoryStore) -> None:
    berlin = zone("Europe/Berlin")
    # 31 March 2024: 02:00 -> 03:00 local. 27 October 2024: 03:00 -> 02:00 local.
    store.add(rec("glass", 0.9, utc(2024, 3, 31, 0, 30)))  # 01:30 CET
    store.add(rec("glass", 0.9, utc(2024, 3, 31, 1, 30)))  # 03:30 CEST
    store.add(rec("glass", 0.9, utc(2024, 10, 27, 0, 30)))  # 02:30 CEST (first 02:xx)
    store.add(rec("glass", 0.9, utc(2024, 10, 27, 1, 30)))  # 02:30 CET (second 02:xx)
    spring = compute(store, *period_bounds("day", utc(2024, 3, 31, 12), tz=berlin), tz=berlin)
    assert len(spring.per_hour) == 23
    assert spring.per_day == ((date(2024, 3, 31), 2),)
    assert [h.hour for h, n in spring.per_hour if n] == [1, 3]
    autumn = compute(store, *period_bounds("day", utc(2024, 10, 27, 12), tz=berlin), tz=berlin)
    assert len(autumn.per_hour) == 25
    twice = [(h.hour, h.utcoffset()) for h, n in autumn.per_hour if n]
    assert twice == [(2, timedelta(hours=2)), (2, timedelta(hours=1))]
    assert autumn.per_day == ((date(2024, 10, 27), 2),)


def test_matches_brute_force_over_random_history(store: HistoryStore) -> None:
    rng = random.Random(5)
    start = utc(2024, 1, 1)
    ids = store.add_many(
        rec(rng.choice(list(BINS)), round(rng.uniform(0.2, 1.0), 3),
            start + timedelta(seconds=rng.randrange(10 * 86400)))
        for _ in range(1500)
    )  # fmt: skip
    for rid in rng.sample(ids, 100):
        store.correct(rid, "metal", "recycling")
    store.delete(rng.sample(ids, 200))
    tz = timezone(timedelta(hours=-3, minutes=-30))
    since, until = start + timedelta(days=2, minutes=7), start + timedelta(days=8, seconds=41)
    s = compute(store, since, until, tz=tz)

    rows = [r for r in store.query(limit=10_000) if since <= r.created_utc < until]
    assert s.total == len(rows) > 500
    assert dict(s.by_label) == Counter(r.final_label for r in rows)
    assert dict(s.by_bin) == Counter(r.final_bin for r in rows)
    assert s.mean_confidence == pytest.approx(sum(r.confidence for r in rows) / len(rows))
    assert s.unsure == sum(r.unsure for r in rows)
    assert s.corrected == sum(r.corrected for r in rows)
    assert {d: n for d, n in s.per_day if n} == Counter(
        r.created_utc.astimezone(tz).date() for r in rows
    )
    by_hour = Counter(
        r.created_utc.astimezone(tz).replace(minute=0, second=0, microsecond=0) for r in rows
    )
    assert {h: n for h, n in s.per_hour if n} == by_hour


def test_empty_period_and_bucket_choice(store: HistoryStore) -> None:
    s = compute(store, utc(2024, 1, 1), utc(2024, 1, 4), tz=UTC)
    assert (s.total, s.mean_confidence, s.unsure_rate, s.correction_rate) == (0, 0.0, 0.0, 0.0)
    assert s.by_label == ()
    assert [n for _, n in s.per_day] == [0, 0, 0]
    assert len(s.per_hour) == 72
    assert compute(store, utc(2024, 1, 1), utc(2024, 1, 4), bucket="day", tz=UTC).per_hour == ()
    long = compute(store, utc(2024, 1, 1), utc(2024, 3, 1), tz=UTC)
    assert long.per_hour == ()
    assert len(long.per_day) == 60
    with pytest.raises(ValueError, match="later"):
        compute(store, utc(2024, 1, 2), utc(2024, 1, 1))


def test_to_rows_feeds_csv(store: HistoryStore) -> None:
    store.add(rec("glass", 0.75, utc(2024, 3, 10, 8, 10)))
    s = compute(store, utc(2024, 3, 10), utc(2024, 3, 11), tz=UTC)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(s.to_rows())
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert rows[0] == ["section", "key", "value"]
    assert ["summary", "total", "1"] in rows
    assert ["summary", "mean_confidence", "0.7500"] in rows
    assert ["label", "glass", "1"] in rows
    assert ["bin", "glass", "1"] in rows
    assert ["day", "2024-03-10", "1"] in rows
    assert ["hour", "2024-03-10T08:00:00+00:00", "1"] in rows
    assert sum(1 for r in rows if r[0] == "hour") == 24


def test_period_bounds() -> None:
    tz = timezone(timedelta(hours=-5))
    now = datetime(2024, 12, 18, 22, 0, tzinfo=tz)  # Wednesday
    assert period_bounds("day", now, tz=tz) == (
        datetime(2024, 12, 18, tzinfo=tz),
        datetime(2024, 12, 19, tzinfo=tz),
    )
    assert period_bounds("week", now, tz=tz) == (
        datetime(2024, 12, 16, tzinfo=tz),
        datetime(2024, 12, 23, tzinfo=tz),
    )
    assert period_bounds("month", now, tz=tz) == (
        datetime(2024, 12, 1, tzinfo=tz),
        datetime(2025, 1, 1, tzinfo=tz),
    )
    # 03:30 UTC on the 19th is still the 18th in UTC-5.
    assert period_bounds("day", utc(2024, 12, 19, 3, 30), tz=tz)[0].day == 18
    since, until = period_bounds("month")  # system zone, aware
    assert since.tzinfo is not None
    assert since.day == 1
    assert since < datetime.now(UTC) < until
    with pytest.raises(ValueError, match="period"):
        period_bounds("year")  # type: ignore[arg-type]


def test_period_bounds_across_dst() -> None:
    berlin = zone("Europe/Berlin")

    def length(bounds: tuple[datetime, datetime]) -> timedelta:
        # Same-zone datetimes subtract as wall times; compare the real instants.
        return bounds[1].astimezone(UTC) - bounds[0].astimezone(UTC)

    assert length(period_bounds("day", utc(2024, 3, 31, 12), tz=berlin)) == timedelta(hours=23)
    assert length(period_bounds("month", utc(2024, 10, 15), tz=berlin)) == timedelta(
        days=31, hours=1
    )


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset (POSIX)")
def test_system_zone_default_follows_dst(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    berlin = zone("Europe/Berlin")
    store.add(rec("glass", 0.9, utc(2024, 10, 27, 0, 30)))
    store.add(rec("glass", 0.9, utc(2024, 10, 27, 1, 30)))
    store.add(rec("glass", 0.9, utc(2024, 10, 27, 22, 30)))  # 23:30 CET, still the 27th
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        bounds = period_bounds("day", utc(2024, 10, 27, 12))
        assert bounds == period_bounds("day", utc(2024, 10, 27, 12), tz=berlin)
        local, named = compute(store, *bounds), compute(store, *bounds, tz=berlin)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert local.total == named.total == 3
    assert len(local.per_hour) == 25
    assert local.per_day == named.per_day
    # PEP 495: times in the repeated hour never compare equal across tzinfos; compare instants.
    assert [(h.astimezone(UTC), h.utcoffset(), n) for h, n in local.per_hour] == [
        (h.astimezone(UTC), h.utcoffset(), n) for h, n in named.per_hour
    ]
