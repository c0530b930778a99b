"""Bar charts for the dashboard, as geometry for inline SVG drawn by the templates.

No charting library and no script: the server computes each bar's rectangle, the template
``_charts.html`` draws ``<rect>`` and ``<text>`` elements (styled by class from the console's
stylesheet, since the CSP forbids inline styles).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    href: str | None = None


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    label_width: int = 0
    total: int = 0

    @property
    def empty(self) -> bool:
        return self.total == 0


def horizontal(items: list[tuple[str, int, str | None]], *, width: int = 560,
               label_width: int = 190, row: int = 26) -> Chart:
    """One bar per ``(label, value, link)``, longest for the largest value.

    >>> chart = horizontal([("a", 4, None), ("b", 2, None)], width=300, label_width=100)
    >>> [(b.label, b.width) for b in chart.bars], chart.height
    ([('a', 160.0), ('b', 80.0)], 52)
    """
    top = max((value for _, value, _ in items), default=0) or 1
    room = width - label_width - 40  # the value is written after the bar
    bars = [Bar(label, value, label_width, i * row + 3, round(room * value / top, 1), row - 8,
                href) for i, (label, value, href) in enumerate(items)]
    return Chart(width, max(row * len(items), row), bars, label_width,
                 sum(value for _, value, _ in items))


def daily(counts: dict[str, int], today: date, days: int = 14, *, width: int = 560,
          height: int = 170) -> Chart:
    """Columns for the ``days`` days up to ``today`` (missing days count 0), labelled MM-DD.

    >>> chart = daily({"2026-11-21": 3}, date(2026, 11, 21), days=2, width=100, height=66)
    >>> [(b.label, b.value, b.y, b.height) for b in chart.bars]
    [('11-20', 0, 46.0, 0.0), ('11-21', 3, 16.0, 30.0)]
    """
    keys = [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
    values = [counts.get(key, 0) for key in keys]
    top = max(values, default=0) or 1
    plot = height - 20 - 16  # room for the labels under the columns and values above them
    slot = width / days
    bars = []
    for i, (key, value) in enumerate(zip(keys, values, strict=True)):
        h = round(plot * value / top, 1)
        bars.append(Bar(key[5:], value, round(i * slot + slot * 0.15, 1), 16 + plot - h,
                        round(slot * 0.7, 1), h))
    return Chart(width, height, bars, 0, sum(values))
