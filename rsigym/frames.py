"""Text drawn as an RGB image, for ``render_mode="rgb_array"`` (video recorders, SB3's default).

Every frame has the same size whatever the text, as video writers require: the text is cut to
:data:`FRAME_COLUMNS` × :data:`FRAME_ROWS` characters and drawn in a monospaced font.
"""
from __future__ import annotations

import numpy as np

FRAME_COLUMNS = 100
FRAME_ROWS = 48
_DPI = 100
_FONT_POINTS = 10
_LINE_HEIGHT_PX = 15
_CHAR_WIDTH_PX = 8


def text_frame(text: str, columns: int = FRAME_COLUMNS, rows: int = FRAME_ROWS) -> np.ndarray:
    """``text`` drawn black on white: a ``uint8`` array of shape (height, width, 3), fixed per size.

    Lines longer than ``columns`` end in ``…``; text past ``rows`` lines is left out, with a last
    line saying how many lines were left out.
    """
    # Matplotlib's Agg canvas without pyplot: no GUI backend, no global figure state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lines = [line if len(line) <= columns else line[: columns - 1] + "…" for line in text.expandtabs(4).splitlines()]
    if len(lines) > rows:
        hidden = len(lines) - (rows - 1)
        lines = lines[: rows - 1] + [f"[{hidden} more lines]"]
    width_px = columns * _CHAR_WIDTH_PX + 2 * _CHAR_WIDTH_PX
    height_px = rows * _LINE_HEIGHT_PX + _LINE_HEIGHT_PX
    figure = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI, facecolor="white")
    canvas = FigureCanvasAgg(figure)
    for row, line in enumerate(lines):
        y = 1 - (row + 1) * _LINE_HEIGHT_PX / height_px
        # usetex/mathtext off: '$' in code must print as itself.
        figure.text(_CHAR_WIDTH_PX / width_px, y, line, family="monospace", fontsize=_FONT_POINTS,
                    color="black", usetex=False, parse_math=False)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
