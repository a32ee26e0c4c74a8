"""Bar charts as plain geometry (bars, axis ticks, labels), drawn as server-side SVG by the templates:
no script, and every colour comes from a class in app.css (the CSP allows no inline style)."""
import math

# A narrow drawing (400 units) keeps its 12-unit text readable once a phone scales it to its width.
LEFT, RIGHT, TOP, BOTTOM = 42, 6, 8, 38  # room for the y tick labels and the x labels with the axis title


def _nice_step(peak: float, ticks: int = 4) -> float:
    """A round tick step (1, 2, 5 × 10ⁿ) so about `ticks` steps cover `peak`."""
    if peak <= 0:
        return 1
    raw = peak / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(factor * magnitude for factor in (1, 2, 5, 10) if raw <= factor * magnitude)
    return max(1, step) if float(peak).is_integer() else step


def bar_chart(points: list[dict], keys: tuple[str, ...] = ("count",), width: int = 400, height: int = 170,
              gap: float = 2.0, max_labels: int = 6) -> dict:
    """`points` are {"label", <key>: value, …}; each bar stacks its keys' values in `keys` order.
    The y axis runs from 0 to a round number at or above the tallest bar, with ticks at round steps."""
    totals = [sum(p.get(k, 0) or 0 for k in keys) for p in points]
    peak = max(totals, default=0)
    step = _nice_step(peak)
    top_value = step * max(1, math.ceil(peak / step))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / max(1, len(points))
    scale = plot_h / top_value
    bars = []
    for i, point in enumerate(points):
        x, base, segments = LEFT + i * slot + gap / 2, TOP + plot_h, []
        for key in keys:
            value = point.get(key, 0) or 0
            if value:
                h = value * scale
                base -= h
                segments.append({"key": key, "value": value, "y": round(base, 1), "height": round(h, 1)})
        bars.append({"x": round(x, 1), "width": round(max(1.0, slot - gap), 1), "segments": segments, **point})
    every = max(1, math.ceil(len(points) / max_labels))
    labels = [{"x": round(LEFT + i * slot + slot / 2, 1), "text": p["label"]}
              for i, p in enumerate(points) if i % every == 0]
    ticks = [{"value": int(v) if float(v).is_integer() else round(v, 6), "y": round(TOP + plot_h - v * scale, 1)}
             for v in (step * n for n in range(int(round(top_value / step)) + 1))]
    return {"width": width, "height": height, "left": LEFT, "right": width - RIGHT, "top": TOP,
            "bottom": TOP + plot_h, "peak": peak, "keys": keys, "bars": bars, "labels": labels, "ticks": ticks,
            "label_y": TOP + plot_h + 15, "title_y": height - 4,
            "mid_x": round(LEFT + plot_w / 2, 1), "mid_y": round(TOP + plot_h / 2, 1)}
