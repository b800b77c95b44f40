"""The 指标 tab's chart: one measure across pilots, each pilot's base figure and its target side by side
(matplotlib, drawn off-screen and shown by gr.Plot). A pilot that states only one of the two has "未提出" where
the other bar would be; a pilot that states neither is not drawn (the tab lists it under the chart)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ui.render_facts import NOTE_MARK

BASE_COLOR = "#94a3b8"
TARGET_COLOR = "#0d9488"
MISSING_COLOR = "#b45309"


@dataclass(frozen=True)
class Item:
    label: str           # the pilot's short name
    base: object = None  # Fact | None
    target: object = None


@lru_cache(maxsize=1)
def cjk_font():
    """A CJK font matplotlib can draw Chinese with (fonts-noto-cjk on Debian), or None."""
    from matplotlib import font_manager  # matplotlib loads only when a chart is drawn

    fonts = font_manager.fontManager.ttflist
    for want in ("Noto Sans CJK", "Source Han Sans", "WenQuanYi", "Droid Sans Fallback", "Noto Serif CJK"):
        for f in fonts:
            if want in f.name:
                return font_manager.FontProperties(fname=f.fname)
    return None


def order_items(items: list[Item]) -> list[Item]:
    """Highest target first, then the pilots with a base figure only, highest first."""
    return sorted(items, key=lambda it: (it.target is None, -(it.target.value if it.target is not None else 0),
                                         -(it.base.value if it.base is not None else 0)))


def chart_figure(items: list[Item], title: str, base_label: str | None, target_label: str | None, unit: str):
    """Horizontal bars, two per pilot (base above, target below), each labelled with its figure as written."""
    # matplotlib loads only when a chart is drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # matplotlib loads only when a chart is drawn
    from matplotlib.patches import Patch  # matplotlib loads only when a chart is drawn

    font = cjk_font()
    small = font.copy() if font else None
    if small:
        small.set_size(8.5)
    pair = base_label is not None and target_label is not None
    per = 0.36 if pair else 0.26
    fig = Figure(figsize=(10, max(2.4, 1.3 + per * len(items))), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    h = 0.38 if pair else 0.6
    top = max([v for it in items for v in (getattr(it.base, "value", 0), getattr(it.target, "value", 0))] or [1])
    gap = top * 0.01
    series = [(s, lab, color) for s, lab, color in (("base", base_label, BASE_COLOR),
                                                    ("target", target_label, TARGET_COLOR)) if lab is not None]
    for i, it in enumerate(items):
        for j, (side, _, color) in enumerate(series):
            y = i + ((j - 0.5) * h if pair else 0)
            f = getattr(it, side)
            if f is None:
                ax.text(gap, y, "未提出", va="center", ha="left", color=MISSING_COLOR, fontproperties=small,
                        fontsize=8.5)
                continue
            noted = bool(f.note)
            ax.barh(y, f.value, h, color=color, hatch="///" if noted else None,
                    edgecolor="white" if noted else color, linewidth=0)
            ax.text(f.value + gap, y, f.text + (NOTE_MARK if noted else ""), va="center", ha="left",
                    color="#0f172a", fontproperties=small, fontsize=8.5)
    ax.set_yticks(range(len(items)))
    ax.set_yticklabels([it.label for it in items], fontproperties=font, fontsize=9.5)
    ax.set_ylim(len(items) - 0.5, -0.5)
    ax.set_xlim(0, top * 1.18)
    ax.set_xlabel(unit, fontproperties=font)
    ax.set_title(title, fontproperties=font, fontsize=12, loc="left")
    ax.grid(axis="x", alpha=0.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    handles = [Patch(color=color, label=lab) for _, lab, color in series]
    if any(getattr(getattr(it, s), "note", "") for it in items for s in ("base", "target")):
        handles.append(Patch(facecolor="white", edgecolor="#64748b", hatch="///",
                             label=f"{NOTE_MARK} 有说明（仅为试点的一部分或口径不同）"))
    ax.legend(handles=handles, prop=small, loc="lower right", framealpha=0.9)
    fig.tight_layout()
    return fig
