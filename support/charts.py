"""A per-day bar chart as inline SVG, drawn on the server (no JavaScript, no build step).

Every day of the window gets its own slot, bar and title, empty days too: a day with no
events is a zero-height bar with a small mark on the axis, so "nothing happened" reads
as a fact about that day rather than a gap in the data, and its slot can still be
hovered or read out (the title says the day and "no events").
"""

from dataclasses import dataclass
from datetime import date, datetime

WIDTH = 720
HEIGHT = 160
TOP = 10
BOTTOM = 24
LEFT = 36
EMPTY_MARK = 2  # height of the mark an empty day gets on the axis
MIN_BAR = 3  # a day with a few events beside a busy one is still seen (its title and the table give the number)


@dataclass(frozen=True)
class Bar:
    day: date | datetime  # a day, or the start of an hour on an hourly chart
    count: int
    x: float
    y: float
    width: float
    height: float
    slot_x: float  # the whole day's column, for the hover and focus target
    slot_width: float
    unit: str = "day"

    @property
    def empty(self) -> bool:
        return self.count == 0

    @property
    def date_text(self) -> str:
        """A day bar's day as {{ bar.day|date:"Y-m-d" }} writes it (2026-12-07), without the template
        filter's formatting machinery: the page writes it three times a bar."""
        return f"{self.day.year:04d}-{self.day.month:02d}-{self.day.day:02d}"

    @property
    def label(self) -> str:
        """What the day's (or hour's) title says: when, and its count in words."""
        day = f"{self.day.day} {self.day:%b %Y}"
        if self.unit == "hour":
            day = f"{day}, {self.day:%H}:00–{(self.day.hour + 1) % 24:02d}:00"
        if self.count == 0:
            return f"{day}: no events"
        return f"{day}: {self.count} event{'s' if self.count != 1 else ''}"


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    peak: int
    width: int
    height: int
    baseline: float
    left: int
    top: int
    plot_height: int
    empty_mark: int
    empty_y: float  # where an empty day's mark starts (it sits on the axis)
    ticks: list[tuple[float, str]]  # (x, label) under the axis
    gridlines: list[tuple[float, int]]  # (y, value)


def bar_chart(days: list[tuple[date | datetime, int]], unit: str = "day") -> Chart:
    """One slot per day (or per hour, unit="hour") in order, empty ones included."""
    peak = max((count for _, count in days), default=0)
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) / max(len(days), 1)
    bar_width = max(slot * 0.8, 1.0)
    baseline = HEIGHT - BOTTOM
    bars = []
    for index, (day, count) in enumerate(days):
        height = max(count / peak * plot_height, MIN_BAR) if count else 0.0
        bars.append(Bar(day=day, count=count, x=round(LEFT + index * slot + (slot - bar_width) / 2, 2),
                        y=round(baseline - height, 2), width=round(bar_width, 2), height=round(height, 2),
                        slot_x=round(LEFT + index * slot, 2), slot_width=round(slot, 2), unit=unit))
    every = max(1, len(days) // 6)
    tick = "%H:00" if unit == "hour" else "%-d %b"
    ticks = [(round(LEFT + i * slot + slot / 2, 2), day.strftime(tick)) for i, (day, _) in enumerate(days)
             if i % every == 0]
    # Whole numbers only, each at its own height (a halfway line of a peak of 1 or 3 would be a lie).
    gridlines = [(round(baseline - plot_height * value / peak, 2), value) for value in sorted({peak // 2, peak} - {0})]
    return Chart(bars=bars, peak=peak, width=WIDTH, height=HEIGHT, baseline=baseline, left=LEFT, top=TOP,
                 plot_height=plot_height, empty_mark=EMPTY_MARK, empty_y=baseline - EMPTY_MARK,
                 ticks=ticks, gridlines=gridlines)
