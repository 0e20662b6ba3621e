"""The course's one look for figures, and animations that play offline.

Every plotting module imports this one, which applies :data:`COURSE_RC` once: text large
enough to read at the back of a lecture hall when a notebook's figure is shown at the page's
width, and reference lines that stand out. A function that needs small print for a dense label
asks for a relative size (``"small"``), never a point size, so this file stays the one place
that sets it.

matplotlib's ``to_jshtml`` player loads its button icons (Font Awesome) from a CDN, so offline,
in a lecture hall without network, the buttons are blank. :func:`animation_html` embeds the same
player with plain Unicode symbols instead: the page references no URL at all.
:func:`static_camera` makes a celluloid camera that keeps what is already drawn (colour bars,
reference lines) on every frame.
"""

from __future__ import annotations

import re

import matplotlib as mpl
import matplotlib.ticker
from celluloid import Camera
from IPython.display import HTML

COURSE_RC = {
    "font.size": 13,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 11,
    "legend.title_fontsize": 11,
    "figure.titlesize": 15,
    "lines.linewidth": 1.8,
    "axes.grid": False,
}

# The player's Font Awesome icons and the plain symbols that replace them (U+FE0E asks for the
# text glyph, not an emoji, where a font has both).
ICONS = {"fa-minus": "−", "fa-fast-backward": "|◀\ufe0e◀\ufe0e", "fa-step-backward": "|◀\ufe0e",
         "fa-play fa-flip-horizontal": "◀\ufe0e", "fa-pause": "❙❙", "fa-play": "▶\ufe0e",
         "fa-step-forward": "▶\ufe0e|", "fa-fast-forward": "▶\ufe0e▶\ufe0e|", "fa-plus": "+"}


def legend_beside(target, handles=None, labels=None):
    """A legend to the right of ``target`` (an Axes, or a Figure given ``handles`` and
    ``labels``), centred on it, where it hides nothing; notebooks show it whole (inline figures
    are cropped to what is drawn). A panel with a long one needs the height of
    :func:`height_for_legend`."""
    if handles is None:
        handles, labels = target.get_legend_handles_labels()
    return target.legend(handles, labels, fontsize="small", loc="center left",
                         bbox_to_anchor=(1.0, 0.5))


def whole_epochs(ax) -> None:
    """Ticks on the x axis at whole epochs only: "epoch 2.5" reads as a half-trained model that
    was never evaluated."""
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))


def height_for_legend(entries: int, height: float) -> float:
    """A one-row figure's height (inches): ``height``, or more where a legend of ``entries`` lines
    beside a panel would otherwise run taller than the panel, into its title."""
    return max(height, 0.2 * entries + 1.6)


def apply() -> None:
    """Set :data:`COURSE_RC` (every plotting module calls this on import)."""
    mpl.rcParams.update(COURSE_RC)


def offline_player(html: str) -> str:
    """``to_jshtml``'s page without the stylesheet it fetches: each icon becomes its symbol (an
    unknown one "?"), so nothing is loaded from the network."""
    html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", html, flags=re.S)

    def symbol(match: re.Match) -> str:
        return ICONS.get(match.group(1).removeprefix("fa ").strip(), "?")

    html = re.sub(r'<i class="(fa [^"]*)"></i>', symbol, html)
    remaining = re.findall(r"https?://[^\s\"'<>]+", html)
    if remaining:
        raise RuntimeError(f"The animation player still references {remaining[0]}; matplotlib's "
                           "template changed: update course_lib.style.offline_player.")
    return html


def animation_html(animation, default_mode: str = "loop") -> HTML:
    """An animation as the notebook's embedded JavaScript player, playable offline."""
    return HTML(offline_player(animation.to_jshtml(default_mode=default_mode)))


def static_camera(fig) -> Camera:
    """A celluloid camera for ``fig`` that leaves everything drawn so far (reference lines,
    colour bars, fixed labels) on every frame: celluloid would otherwise count it as part of the
    first frame only and hide it on the others."""
    camera = Camera(fig)
    for i, ax in enumerate(fig.axes):  # celluloid 0.2.0 (pinned) counts each axes' artists
        if ax.legend_ is not None:  # a static artist: celluloid adds the axes' legend to
            ax.add_artist(ax.legend_)  # every frame again, and 40 frames drew it 41 times each
            ax.legend_ = None  # (notebook 05's 40-frame attention animation: 32 s → 14 s)
        for kind, offsets in camera._offsets.items():
            offsets[i] = len(getattr(ax, kind))
    return camera


apply()
