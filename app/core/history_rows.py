"""Reading stored history rows back: one tolerant decoder for every read path.

A row that cannot be shown (no usable id, time or confidence) is skipped and reported; a bad
optional field is blanked and reported; nothing here raises.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.core.history_schema import SOURCE_KINDS, Record, from_utc_text


def _text(value: object) -> tuple[str, bool]:
    """A text column as str, and whether it had to be made one (NULL, blob, number)."""
    if isinstance(value, str):
        return value, True
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace"), False
    return ("" if value is None else str(value)), False


def _top_k(value: object) -> tuple[tuple[str, float], ...]:
    """The stored top-k list; ValueError (or TypeError) when it is not one."""
    if not isinstance(value, str):
        raise ValueError("top_k is not text")
    pairs = json.loads(value)
    if not isinstance(pairs, list):
        raise ValueError("top_k is not a list")
    result = []
    for name, p in pairs:
        prob = float(p)
        if not math.isfinite(prob):
            raise ValueError("top_k holds a non-finite probability")
        result.append((str(name), prob))
    return tuple(result)


def decode_row(row: Sequence[Any]) -> tuple[Record | None, str | None]:
    """``(record, problem)`` for a row selected with :data:`SELECT_COLUMNS`; never raises.

    A row without a usable id, time or confidence gives ``(None, why)``; a bad optional field
    (top-k list, correction time, a CHECK-breaking value) is blanked or kept and named in
    ``problem``; a sound row gives ``(record, None)``.
    """
    try:
        (rid, created, source, kind, model_id, version, label, conf, top_k, bin_id, unsure,
         has_thumb, c_label, c_bin, c_utc, note, confirmed) = row  # fmt: skip
    except (TypeError, ValueError):
        return None, "wrong number of columns"
    if not isinstance(rid, int) or isinstance(rid, bool):
        return None, f"id {rid!r} is not a number"
    problems: list[str] = []
    try:
        created_utc = from_utc_text(created)
    except (ValueError, TypeError, OverflowError):
        return None, f"unreadable time {created!r}"
    if isinstance(conf, bool) or not isinstance(conf, int | float) or not math.isfinite(conf):
        return None, f"confidence {conf!r} is not a number"
    try:
        top = _top_k(top_k)
    except (ValueError, TypeError, OverflowError):
        top = ()
        problems.append("top-k list unreadable (shown empty)")
    corrected_utc = _optional_time(c_utc, "correction", problems)
    confirmed_utc = _optional_time(confirmed, "confirmation", problems)
    texts = {}
    named = {"source": source, "source_kind": kind, "model_id": model_id,
             "model_version": version, "label": label, "bin_id": bin_id}  # fmt: skip
    for name, value in named.items():
        texts[name], ok = _text(value)
        if not ok:
            problems.append(f"{name} is not text")
    optional = {}
    for name, value in (("corrected_label", c_label), ("corrected_bin", c_bin), ("note", note)):
        optional[name] = None if value is None else _text(value)[0]
    if texts["source_kind"] not in SOURCE_KINDS:
        problems.append(f"source kind {texts['source_kind']!r}")
    if unsure not in (0, 1):
        problems.append(f"unsure flag {unsure!r}")
    record = Record(
        id=rid,
        created_utc=created_utc,
        source=texts["source"],
        source_kind=texts["source_kind"],
        model_id=texts["model_id"],
        model_version=texts["model_version"],
        label=texts["label"],
        confidence=float(conf),
        top_k=top,
        bin_id=texts["bin_id"],
        unsure=bool(unsure) if isinstance(unsure, int | float) else True,
        has_thumbnail=bool(has_thumb),
        corrected_label=optional["corrected_label"],
        corrected_bin=optional["corrected_bin"],
        corrected_utc=corrected_utc,
        note=optional["note"],
        confirmed_utc=confirmed_utc,
    )
    return record, ("; ".join(problems) or None)


def _optional_time(value: object, what: str, problems: list[str]) -> datetime | None:
    """A nullable time column; an unreadable one is blanked and named in ``problems``."""
    if value is None:
        return None
    try:
        return from_utc_text(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError):
        problems.append(f"{what} time unreadable (shown empty)")
        return None
