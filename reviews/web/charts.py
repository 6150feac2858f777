"""Small server-drawn SVG charts: test accuracy and flag rate over model versions, and the
dashboard's monitoring charts (no JavaScript, nothing fetched). The templates also show the
same figures as tables."""

WIDTH, HEIGHT, MARGIN = 640, 240, 40


def _scale(value: float, low: float, high: float) -> float:
    span = (high - low) or 1.0
    return HEIGHT - MARGIN - (value - low) / span * (HEIGHT - 2 * MARGIN)


def versions_chart(series: list[dict]) -> dict | None:
    """Points for two lines (accuracy, flag rate; both 0-100%) over versions in creation order."""
    if not series:
        return None
    step = (WIDTH - 2 * MARGIN) / max(1, len(series) - 1)
    accuracy, flag_rate, ticks = [], [], []
    for i, v in enumerate(series):
        x = MARGIN + (i * step if len(series) > 1 else (WIDTH - 2 * MARGIN) / 2)
        ticks.append({"x": round(x, 1), "label": v["id"][-6:], "title": v["id"]})
        if v["test_accuracy"] is not None:
            accuracy.append({"x": round(x, 1), "y": round(_scale(v["test_accuracy"], 0, 1), 1), "value": v["test_accuracy"]})
        if v["flag_rate"] is not None:
            flag_rate.append({"x": round(x, 1), "y": round(_scale(v["flag_rate"], 0, 1), 1), "value": v["flag_rate"]})
    grid = [{"y": round(_scale(f, 0, 1), 1), "label": f"{int(f * 100)}%"} for f in (0, 0.25, 0.5, 0.75, 1.0)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "margin": MARGIN,
        "axis_y": HEIGHT - MARGIN,
        "right": WIDTH - MARGIN,
        "grid": grid,
        "ticks": ticks,
        "accuracy": accuracy,
        "accuracy_points": " ".join(f"{p['x']},{p['y']}" for p in accuracy),
        "flag_rate": flag_rate,
        "flag_rate_points": " ".join(f"{p['x']},{p['y']}" for p in flag_rate),
    }


# --- The dashboard's monitoring charts (reviews.monitoring) ---------------------------------------
# Each series has its own marker shape and dash pattern, so the charts read without colour; the
# template shows every figure in a table as well.

MARKERS = ("circle", "square", "triangle", "diamond")
DASHES = ("", "6 3", "2 3", "8 3 2 3")


def _x_positions(count: int) -> list[float]:
    if count <= 1:
        return [WIDTH / 2]
    step = (WIDTH - 2 * MARGIN) / (count - 1)
    return [MARGIN + i * step for i in range(count)]


def _frame(top: float, label: str) -> dict:
    grid = [{"y": round(_scale(f * top, 0, top), 1), "label": label.format(f * top)} for f in (0, 0.25, 0.5, 0.75, 1.0)]
    return {"width": WIDTH, "height": HEIGHT, "margin": MARGIN, "axis_y": HEIGHT - MARGIN, "right": WIDTH - MARGIN,
            "grid": grid}


def _day_ticks(days: list, xs: list[float]) -> list[dict]:
    every = max(1, len(days) // 8)  # at most about eight labels
    return [{"x": round(x, 1), "label": f"{d:%m-%d}", "title": f"{d:%Y-%m-%d}"}
            for i, (d, x) in enumerate(zip(days, xs)) if i % every == 0 or i == len(days) - 1]


def _line(points: list[dict], marker: str, dash: str, name: str) -> dict:
    return {"name": name, "marker": marker, "dash": dash, "points": points,
            "path": " ".join(f"{p['x']},{p['y']}" for p in points)}


def _top(values: list[float]) -> float:
    """A round top for the y axis (a share): 5%, 10%, 25%, 50% or 100%."""
    high = max(values, default=0.0)
    return next((t for t in (0.05, 0.1, 0.25, 0.5) if high <= t), 1.0)


def flag_rate_chart(versions: list[dict]) -> dict | None:
    """Flags per prediction per day, a line per version."""
    days = sorted({d["day"] for v in versions for d in v["days"]})
    if not days:
        return None
    xs = dict(zip(days, _x_positions(len(days))))
    top = _top([d["rate"] for v in versions for d in v["days"] if d["rate"] is not None])
    lines = []
    for i, v in enumerate(versions):
        points = [{"x": round(xs[d["day"]], 1), "y": round(_scale(d["rate"], 0, top), 1), "value": d["rate"],
                   "title": f"{v['id']} {d['day']:%Y-%m-%d}: {d['flags']} flag(s) of {d['predictions']}"}
                  for d in v["days"] if d["rate"] is not None]
        lines.append(_line(points, MARKERS[i % len(MARKERS)], DASHES[i % len(DASHES)], v["id"]))
    return {**_frame(top, "{:.0%}" if top >= 0.1 else "{:.1%}"), "ticks": _day_ticks(days, list(xs.values())),
            "lines": lines}


def low_share_chart(rows: list[dict]) -> dict | None:
    """The share of low-confidence predictions per day."""
    if not rows:
        return None
    xs = _x_positions(len(rows))
    top = _top([r["share"] for r in rows])
    points = [{"x": round(x, 1), "y": round(_scale(r["share"], 0, top), 1), "value": r["share"],
               "title": f"{r['day']:%Y-%m-%d}: {r['low']} of {r['predictions']}"} for r, x in zip(rows, xs)]
    return {**_frame(top, "{:.0%}" if top >= 0.1 else "{:.1%}"), "ticks": _day_ticks([r["day"] for r in rows], xs),
            "lines": [_line(points, MARKERS[0], DASHES[0], "low-confidence share")]}


def histogram_chart(bins: list[dict]) -> dict | None:
    """Bars of predictions per confidence bin, each labelled with its count."""
    total = sum(b["count"] for b in bins)
    if not total:
        return None
    top = max(b["count"] for b in bins)
    width = (WIDTH - 2 * MARGIN) / len(bins)
    bars = []
    for i, b in enumerate(bins):
        y = _scale(b["count"], 0, top)
        bars.append({"x": round(MARGIN + i * width + 2, 1), "y": round(y, 1), "width": round(width - 4, 1),
                     "height": round(HEIGHT - MARGIN - y, 1), "count": b["count"],
                     "label_x": round(MARGIN + (i + 0.5) * width, 1), "label": f"{b['low']:.2f}",
                     "title": f"confidence {b['low']:.2f}-{b['high']:.2f}: {b['count']}"})
    return {**_frame(top, "{:.0f}"), "bars": bars}


def monitoring_charts(watch: dict) -> dict:
    return {"flag_rate": flag_rate_chart(watch["flag_rate"]), "low_share": low_share_chart(watch["low_share"]),
            "histogram": histogram_chart(watch["histogram"])}
