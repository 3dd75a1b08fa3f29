"""A per-day stacked bar chart of events by outcome, drawn as inline SVG on the server (no JavaScript)."""

from datetime import date

from audit.canonical import OUTCOMES

WIDTH, HEIGHT = 720, 180
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 40, 22, 8


def _nice_max(value: int) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def daily_chart(days: list[tuple[date, dict[str, int]]]) -> dict:
    """Geometry for templates/audit/_chart.svg.html: bars (x, y, height per outcome), axis ticks, totals."""
    top = _nice_max(max((sum(c.values()) for _, c in days), default=0))
    plot_w, plot_h = WIDTH - PAD_LEFT, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.8, 1)
    bars = []
    totals = dict.fromkeys(OUTCOMES, 0)
    label_every = max(1, len(days) // 8)
    for i, (day, counts) in enumerate(days):
        x = PAD_LEFT + i * slot + (slot - bar_w) / 2
        y = PAD_TOP + plot_h
        segments = []
        for outcome in OUTCOMES:
            n = counts.get(outcome, 0)
            totals[outcome] += n
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            segments.append({"outcome": outcome, "count": n, "y": round(y, 1), "height": round(h, 1)})
        bars.append({
            "day": day, "x": round(x, 1), "width": round(bar_w, 1), "segments": segments,
            "total": sum(counts.values()), "label": i % label_every == 0,
            "label_x": round(x + bar_w / 2, 1),
        })
    steps = 4 if top % 4 == 0 else 5
    ticks = [{"value": top * k // steps, "y": round(PAD_TOP + plot_h - plot_h * k / steps, 1)}
             for k in range(steps + 1)]
    return {
        "width": WIDTH, "height": HEIGHT, "left": PAD_LEFT, "axis_y": PAD_TOP + plot_h,
        "label_y": HEIGHT - 6, "bars": bars, "ticks": ticks, "totals": totals, "days": days,
    }
