"""A per-day bar chart as inline SVG, drawn on the server (no JavaScript, no build step)."""

from dataclasses import dataclass
from datetime import date

WIDTH = 720
HEIGHT = 160
TOP = 10
BOTTOM = 24
LEFT = 36


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    peak: int
    width: int
    height: int
    baseline: float
    left: int
    ticks: list[tuple[float, str]]  # (x, label) under the axis
    gridlines: list[tuple[float, int]]  # (y, value)


def bar_chart(days: list[tuple[date, int]]) -> Chart:
    peak = max((count for _, count in days), default=0)
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) / max(len(days), 1)
    bar_width = max(slot * 0.8, 1.0)
    baseline = HEIGHT - BOTTOM
    bars = []
    for index, (day, count) in enumerate(days):
        height = (count / peak * plot_height) if peak else 0.0
        bars.append(Bar(day=day, count=count, x=round(LEFT + index * slot + (slot - bar_width) / 2, 2),
                        y=round(baseline - height, 2), width=round(bar_width, 2), height=round(height, 2)))
    every = max(1, len(days) // 6)
    ticks = [(round(LEFT + i * slot + slot / 2, 2), day.strftime("%-d %b")) for i, (day, _) in enumerate(days)
             if i % every == 0]
    gridlines = [(round(baseline - plot_height * f, 2), round(peak * f)) for f in (0.5, 1.0)] if peak else []
    return Chart(bars=bars, peak=peak, width=WIDTH, height=HEIGHT, baseline=baseline, left=LEFT, ticks=ticks,
                 gridlines=gridlines)
