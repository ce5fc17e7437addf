"""QtCharts builders for the statistics panel: they draw numbers, they compute nothing.

Each function fills an existing :class:`QChart` (so the views keep their chart and size) and
returns the series it added, which tests read back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time

from PySide6.QtCharts import (
    QAbstractBarSeries,
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QDateTimeAxis,
    QHorizontalBarSeries,
    QLineSeries,
    QPieSeries,
    QValueAxis,
)
from PySide6.QtCore import QDateTime, QMargins, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy

BAR_COLOUR = "#00796B"
TIME_COLOUR = "#1565C0"
LABEL_COLOUR = "#212121"
MAX_BARS = 62  # more time buckets than this are drawn as a line with a date axis
MAX_CLASSES = 12  # the rest are summed into one "other" bar


def make_view() -> QChartView:
    """A chart view; each draw gives it a new chart (see :func:`new_chart`)."""
    view = QChartView()
    view.setRenderHint(QPainter.RenderHint.Antialiasing)
    view.setMinimumSize(260, 200)
    view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    return view


def new_chart(view: QChartView, title: str) -> QChart:
    """Put a fresh light, animation-free chart in ``view`` and delete the old one.

    Removing series and axes from a chart that is reused leaves stale axis labels drawn in
    the scene, so every redraw starts from an empty chart instead.
    """
    chart = QChart()
    chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
    chart.setTheme(QChart.ChartTheme.ChartThemeLight)
    chart.setMargins(QMargins(4, 4, 4, 4))
    chart.setTitle(title)
    old = view.chart()
    view.setChart(chart)
    if old is not None:
        old.deleteLater()
    return chart


def top_counts(
    counts: Sequence[tuple[str, int]], limit: int = MAX_CLASSES, other: str = "other"
) -> list[tuple[str, int]]:
    """The ``limit`` largest counts, then the rest summed as ``other`` (input is ranked)."""
    items = list(counts)
    if len(items) <= limit:
        return items
    head, tail = items[: limit - 1], items[limit - 1 :]
    return [*head, (other, sum(n for _, n in tail))]


def class_bars(view: QChartView, title: str, counts: Sequence[tuple[str, int]]) -> QBarSet:
    """Horizontal bars, largest class on top; ``counts`` are (display name, count)."""
    chart = new_chart(view, title)
    ordered = list(reversed(counts))  # horizontal bar charts draw the first category lowest
    bar_set = QBarSet("")
    bar_set.setColor(QColor(BAR_COLOUR))
    bar_set.setLabelColor(QColor(LABEL_COLOUR))
    bar_set.append([float(n) for _, n in ordered])
    series = QHorizontalBarSeries()
    series.append(bar_set)
    _value_labels(series)
    chart.addSeries(series)
    names = QBarCategoryAxis()
    names.append([name for name, _ in ordered])
    chart.addAxis(names, Qt.AlignmentFlag.AlignLeft)
    series.attachAxis(names)
    # Head room on the right so the value labels fit outside the longest bar.
    counts_axis = _count_axis(max((n for _, n in counts), default=0), headroom=1.15)
    chart.addAxis(counts_axis, Qt.AlignmentFlag.AlignBottom)
    series.attachAxis(counts_axis)
    chart.legend().hide()
    return bar_set


def bin_pie(
    view: QChartView, title: str, slices: Sequence[tuple[str, int, str | None, str | None]]
) -> QPieSeries:
    """A pie of (display name, count, colour, text colour) in the bins' own colours.

    The legend names each bin with its count; slices carry their share in per cent.
    """
    chart = new_chart(view, title)
    series = QPieSeries()
    series.setPieSize(0.85)
    total = sum(n for _, n, _, _ in slices)
    for name, count, colour, text_colour in slices:
        piece = series.append(f"{name}: {count}", float(count))
        if colour:
            piece.setColor(QColor(colour))
        piece.setBorderColor(QColor("#FFFFFF"))
        piece.setLabelColor(QColor(text_colour or LABEL_COLOUR))
        piece.setLabelPosition(piece.LabelPosition.LabelInsideHorizontal)
        share = count / total if total else 0.0
        # The share only fits inside slices that are not too thin.
        piece.setLabelVisible(share >= 0.05)
        piece.setLabel(f"{share * 100:.0f} %")
        piece.setProperty("legend_text", f"{name}: {count}")
    chart.addSeries(series)
    for marker, piece in zip(chart.legend().markers(series), series.slices(), strict=True):
        marker.setLabel(str(piece.property("legend_text")))
    legend = chart.legend()
    legend.show()
    legend.setAlignment(Qt.AlignmentFlag.AlignRight)
    return series


def time_chart(
    view: QChartView,
    title: str,
    buckets: Sequence[tuple[datetime | date, int]],
    label_format: str,
) -> QBarSet | QLineSeries:
    """Items per hour or per day: bars (labelled with ``label_format``) or, for long
    periods, a line over a date axis."""
    chart = new_chart(view, title)
    chart.legend().hide()
    peak = max((n for _, n in buckets), default=0)
    if len(buckets) > MAX_BARS:
        line = QLineSeries()
        line.setColor(QColor(TIME_COLOUR))
        for when, n in buckets:
            line.append(float(_msecs(when)), float(n))
        chart.addSeries(line)
        axis = QDateTimeAxis()
        axis.setFormat("yyyy-MM-dd")
        axis.setTickCount(7)
        chart.addAxis(axis, Qt.AlignmentFlag.AlignBottom)
        line.attachAxis(axis)
        counts = _count_axis(peak)
        chart.addAxis(counts, Qt.AlignmentFlag.AlignLeft)
        line.attachAxis(counts)
        return line
    bar_set = QBarSet("")
    bar_set.setColor(QColor(TIME_COLOUR))
    bar_set.append([float(n) for _, n in buckets])
    series = QBarSeries()
    series.setBarWidth(0.8)
    series.append(bar_set)
    chart.addSeries(series)
    categories = QBarCategoryAxis()
    categories.append([when.strftime(label_format) for when, _ in buckets])
    chart.addAxis(categories, Qt.AlignmentFlag.AlignBottom)
    series.attachAxis(categories)
    counts = _count_axis(peak)
    chart.addAxis(counts, Qt.AlignmentFlag.AlignLeft)
    series.attachAxis(counts)
    return bar_set


def _count_axis(peak: int, headroom: float = 1.1) -> QValueAxis:
    """A 0-based axis with round, whole-number ticks and some room above the peak."""
    axis = QValueAxis()
    axis.setRange(0, max(4.0, peak * headroom))
    axis.applyNiceNumbers()
    axis.setLabelFormat("%d")
    axis.setMinorTickCount(0)
    return axis


def _value_labels(series: QAbstractBarSeries) -> None:
    series.setLabelsVisible(True)
    series.setLabelsFormat("@value")
    series.setLabelsPosition(QAbstractBarSeries.LabelsPosition.LabelsOutsideEnd)


def _msecs(when: datetime | date) -> int:
    if not isinstance(when, datetime):
        when = datetime.combine(when, time()).astimezone()
    return QDateTime.fromSecsSinceEpoch(int(when.timestamp())).toMSecsSinceEpoch()
