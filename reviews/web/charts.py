"""A small server-drawn SVG chart of test accuracy and flag rate over model versions (no
JavaScript, nothing fetched). The template also shows the same figures as a table."""

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
