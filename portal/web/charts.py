"""Server-rendered SVG bar charts: no script library; the page's table is the text version."""

from collections.abc import Sequence

from markupsafe import Markup, escape

from portal.domain.money import format_cents

WIDTH, HEIGHT, AXIS = 640, 240, 28
COLOURS = ("#0b5cab", "#b35c00")  # 4.5:1 or better on white


def bar_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[int]]) -> Markup:
    """Bars of cents per label, one colour per series, with a legend and the title as the
    accessible name."""
    peak = max((v for values in series.values() for v in values), default=0) or 1
    slot = (WIDTH - 8) / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + AXIS + 20}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for s, (name, values) in enumerate(series.items()):
        colour = COLOURS[s % len(COLOURS)]
        for i, cents in enumerate(values):
            h = round(HEIGHT * max(cents, 0) / peak, 1)
            x = round(4 + i * slot + slot * 0.1 + s * bar, 1)
            parts.append(
                f'<rect x="{x}" y="{HEIGHT - h}" width="{round(bar, 1)}" height="{h}" '
                f'fill="{colour}"><title>{escape(name)}, {escape(labels[i])}: '
                f"{format_cents(cents)}</title></rect>"
            )
        parts.append(
            f'<rect x="{4 + s * 160}" y="{HEIGHT + AXIS + 6}" width="12" height="12" '
            f'fill="{colour}"/><text x="{20 + s * 160}" y="{HEIGHT + AXIS + 17}" '
            f'font-size="13">{escape(name)}</text>'
        )
    for i, label in enumerate(labels):
        x = round(4 + i * slot + slot / 2, 1)
        parts.append(
            f'<text x="{x}" y="{HEIGHT + 18}" font-size="12" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    parts.append(f'<line x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" stroke="#4a5560"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
