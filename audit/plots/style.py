"""The look every figure shares, and how a figure becomes a deterministic, self-contained SVG string.

Every SVG is byte-identical across runs: the id hash salt is fixed, the date and creator
metadata are dropped, and nothing outside the file is referenced. Labels stay ``<text>`` (searchable
and selectable, in the browser and in the PDF) in DejaVu Sans, the font their widths are measured
with, falling back to fonts as wide or narrower (Verdana, Arial) and finally to any sans-serif.

Colours are the Okabe–Ito colour-blind-safe palette and each dataset also gets its own line
style, so a greyscale print still tells the lines apart. Here too: number formatting, confidence
levels in words, estimate dicts read safely, and the inks and axis range of the interval (forest-style)
plots that the subgroup forest plot and the coverage plot share.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib.figure import Figure as _MplFigure

from ..numbers import finite_or_none

#: Okabe & Ito (2008), "Color Universal Design", without yellow (too pale on white paper).
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
)

#: One per dataset, so lines differ in greyscale too. Plain dashes ("--") are kept for the
#: reference lines (chance diagonal, prevalence) so they never look like a dataset's curve.
LINE_STYLES: tuple[object, ...] = (
    "solid",
    (0, (6, 1.5, 1.5, 1.5)),  # dash-dot
    (0, (1, 1.2)),  # dotted
    (0, (8, 1.5, 1.5, 1.5, 1.5, 1.5)),  # dash-dot-dot
    (0, (3, 1)),  # densely dashed
    (0, (10, 2)),  # long dash
    (0, (1, 2.5)),  # loosely dotted
)

REFERENCE_STYLE = (0, (4, 3))
REFERENCE_GREY = "#777777"

RC = {
    "svg.hashsalt": "trustaudit",  # deterministic clip-path / glyph ids
    "svg.fonttype": "none",  # text stays text: searchable, selectable, and quicker to lay out in a PDF than glyph paths
    "font.family": "DejaVu Sans",  # ships with matplotlib, so output is the same everywhere
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "path.simplify": True,
}

_SVG_METADATA = {"Date": None, "Creator": None}
_DOCTYPE = re.compile(r"<!DOCTYPE[^>]*>\s*")
#: DejaVu Sans is what label widths are measured with; where it is not installed, the fallbacks
#: are as wide (Verdana) or narrower (Arial, Helvetica), so no label outgrows its space. They are
#: added to the written SVG, not to font.family: matplotlib would look each one up here, warn for
#: every one not installed, and expand sans-serif into its own list.
_FONT_FAMILY = "font-family: 'DejaVu Sans'"
_FONT_STACK = "font-family: 'DejaVu Sans', 'Bitstream Vera Sans', Verdana, Arial, Helvetica, sans-serif"
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)


#: Longest text drawn in a figure: a longer label (a group name, a dataset name) is cut to this many
#: characters with an ellipsis; tables and results.json keep the full text.
MAX_LABEL = 60


def short_label(text: str, limit: int = MAX_LABEL) -> str:
    """``text`` cut to ``limit`` characters, the last an ellipsis, when longer."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shorten_texts(fig: _MplFigure) -> None:
    """Cut every text of ``fig`` longer than ``MAX_LABEL`` (laying out a 400,000-character label took 17 s)."""
    from matplotlib.text import Text

    for artist in fig.findobj(Text):
        text = artist.get_text()
        if len(text) > MAX_LABEL:
            artist.set_text(short_label(text))


def figure_to_svg(fig: _MplFigure) -> str:
    """Render a matplotlib figure to a deterministic SVG string and release its contents."""
    _shorten_texts(fig)
    buffer = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buffer, format="svg", metadata=_SVG_METADATA, bbox_inches="tight",
                    pad_inches=0.08)
    fig.clear()
    return _strip_external_identifiers(buffer.getvalue())


def _strip_external_identifiers(svg: str) -> str:
    """Drop the DOCTYPE (which names an external DTD) and the RDF metadata block.

    What remains refers to nothing outside the file: only XML namespace names, which are
    identifiers that are never fetched, and ``#id`` references to the file's own defs.
    """
    svg = _DOCTYPE.sub("", svg, count=1)
    return _METADATA.sub("", svg, count=1).replace(_FONT_FAMILY, _FONT_STACK)


# ----------------------------------------------------------------------------- numbers and series


def format_number(x: object, digits: int = 3) -> str:
    value = finite_or_none(x)
    return "n/a" if value is None else f"{value:.{digits}f}"


def series_colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def series_style(i: int) -> object:
    return LINE_STYLES[i % len(LINE_STYLES)]


def dataset_count(n: int) -> str:
    return "1 dataset" if n == 1 else f"{n} datasets"


def finite_points(x: Sequence[float] | None, y: Sequence[float] | None) -> tuple[list[float], list[float]]:
    """Paired finite points; empty when the curve is missing or undefined."""
    if not x or not y or len(x) != len(y):
        return [], []
    points = [(float(a), float(b)) for a, b in zip(x, y)
              if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)]
    return [p[0] for p in points], [p[1] for p in points]


def estimate_value(estimate: object) -> object:
    """The value of an estimate dict, or the number itself."""
    return estimate.get("value") if isinstance(estimate, Mapping) else estimate


def ci_pair(estimate: object) -> list[float] | None:
    ci = estimate.get("ci") if isinstance(estimate, Mapping) else None
    if not ci or len(ci) != 2:
        return None
    lo, hi = finite_or_none(ci[0]), finite_or_none(ci[1])
    return None if lo is None or hi is None else [lo, hi]


def confidence_words(confidence: object) -> str:
    value = finite_or_none(confidence)
    return "" if value is None else f"{round(value * 100, 6):g}%"


# ----------------------------------------------------------------------------- interval plots

#: Inks shared by the subgroup forest plot and the conformal coverage plot.
FOREST_INK = "#222222"  # judged groups: dark CI line, filled marker
FOREST_POINT = OKABE_ITO[0]
FOREST_GREY = "#8c8c8c"  # insufficient evidence: hollow grey marker, dotted grey line


def forest_xlim(extent: list[float]) -> tuple[float, float]:
    """Data range with a margin; estimates here are proportions, so stay near [0, 1]."""
    if not extent:
        return 0.0, 1.0
    lo, hi = min(extent), max(extent)
    span = max(hi - lo, 0.1)
    lo, hi = lo - 0.08 * span, hi + 0.08 * span
    if min(extent) >= 0:
        lo = max(lo, -0.02)
    if max(extent) <= 1:
        hi = min(hi, 1.02)
    return lo, hi
