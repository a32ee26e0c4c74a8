"""A bar chart as plain geometry, drawn as server-side SVG by the template."""


def bar_chart(points: list[dict], width: int = 600, height: int = 120, gap: float = 2.0) -> dict:
    """`points` are {"date", "count"}; bars are scaled so the tallest fills the height."""
    peak = max((p["count"] for p in points), default=0)
    step = width / max(1, len(points))
    bars = []
    for i, point in enumerate(points):
        bar_height = round(height * point["count"] / peak, 1) if peak else 0
        bars.append({"x": round(i * step + gap / 2, 1), "y": round(height - bar_height, 1),
                     "width": round(step - gap, 1), "height": bar_height, **point})
    return {"width": width, "height": height, "peak": peak, "bars": bars}
