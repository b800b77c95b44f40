"""The 指标 tab: every pilot's figures as one table (pilots × measures), sortable and filterable, each figure a
link to its line in 试点浏览; one measure as a chart (base and target side by side); the filtered rows as CSV.

The table is ours (ui/render_facts.py), not gr.Dataframe: figures sort by value ("103.6 万人" is not text to
sort), a pilot without a figure stays last in either direction, and a figure is a button carrying its pilot and
line. The page's script turns a click into the HTML component's `click` event: `{sort: key}` re-sorts here,
`{pilot, start, end}` is ui/app.py's `jump` (the same as the chat's source links).

  facts_table(province, measures, name, sort) -> (html, csv file)   the table and its CSV
  facts_chart(province, name, measure, year)   -> (plot, html)       the chart and the pilots it leaves out
The CSV holds the fact rows behind the table, in `pilotqa facts --csv`'s form (UTF-8 with a BOM for Excel).
"""
from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from pathlib import Path

import gradio as gr

from rag.files import atomic_write
from rag.index.facts import CORE
from rag.retrieval.facts_wide import (
    filter_rows,
    measure_order,
    pivot,
    sort_rows,
    table_facts,
)
from rag.retrieval.forms import facts_csv
from ui import facts_chart as FC
from ui import render as R
from ui import render_facts as RF

ALL = "全部"
EXPORT_DIR = Path(tempfile.gettempdir()) / "pilotqa-export"
NUMERIC_FIRST_DESC = True   # a figure column sorts highest first on its first click; names sort A→Z

# Clicks on the table: a column heading re-sorts, a figure opens its line in 试点浏览.
FACTS_JS = """
element.addEventListener('click', (e) => {
  const s = e.target.closest('.pq-sort');
  if (s) { e.preventDefault(); trigger('click', {sort: s.dataset.sort}); return; }
  const b = e.target.closest('.pq-fjump');
  if (!b) return;
  e.preventDefault();
  trigger('click', {pilot: b.dataset.pilot, start: parseInt(b.dataset.start), end: parseInt(b.dataset.end)});
});
"""


def _pilots(qa) -> list[tuple[str, str]]:
    """(pilot, province) of every pilot, in the official order (by province)."""
    return [(p, prov) for prov, names in qa.pilots_by_province().items() for p in names]


def _measures(facts, chosen) -> list[str]:
    order = measure_order(facts)
    chosen = [m for m in (chosen or []) if m in order]
    return [m for m in order if m in chosen] if chosen else order


def build_table(qa, province, measures, name):
    """The filtered wide table, and the fact rows behind it."""
    facts = list(qa.index.facts)
    table = pivot(facts, _pilots(qa), _measures(facts, measures))
    table = filter_rows(table, province=None if province in (None, "", ALL) else province, text=name)
    return table, table_facts(facts, table, _measures(facts, measures))


def write_csv(rows, province) -> str:
    """The rows as a CSV file (written whole, then renamed into place), named by province and content."""
    text = facts_csv(rows)
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
    scope = province if province not in (None, "", ALL) else "全部"
    path = EXPORT_DIR / f"试点指标-{scope}-{digest}.csv"
    if not path.exists():
        atomic_write(path, text)
    return str(path)


def target_years(facts, measure: str) -> list[int]:
    return sorted({f.year for f in facts if f.measure == measure and f.kind == "target"})


def default_year(facts, measure: str) -> int | None:
    """The target year most pilots state the measure for (ties: the later year)."""
    count = Counter(f.year for f in facts if f.measure == measure and f.kind == "target")
    return max(count, key=lambda y: (count[y], y)) if count else None


def chart_parts(qa, province, name, measure, year):
    """(figure or None, the 未提出 HTML) for one measure over the pilots the filters keep."""
    facts = list(qa.index.facts)
    if not measure or measure not in {f.measure for f in facts}:
        return None, RF.missing_html([], "")
    table = filter_rows(pivot(facts, _pilots(qa), [measure]), province=None if province in (None, "", ALL)
                        else province, text=name)
    try:
        year = int(year) if year not in (None, "") else default_year(facts, measure)
    except (TypeError, ValueError):
        year = default_year(facts, measure)
    has_base = any(f.measure == measure and f.kind == "base" for f in facts)
    has_target = year is not None and any(f.measure == measure and f.kind == "target" and f.year == year
                                          for f in facts)
    items, missing = [], []
    for r in table.rows:
        base = r.cells.get(f"{measure}|base") if has_base else None
        target = r.cells.get(f"{measure}|target|{year}") if has_target else None
        short = RF.short_name(r.pilot, r.province)
        if base is None and target is None:
            missing.append(short)
        else:
            items.append(FC.Item(short, base, target))
    what = ("基期数字" if has_base else "") + ("或" if has_base and has_target else "") + \
        (f"{year}年目标" if has_target else "")
    if not items:
        return None, RF.missing_html(missing, what)
    units = Counter(getattr(it, s).unit for it in items for s in ("base", "target") if getattr(it, s) is not None)
    col = next((c for c in table.columns if c.kind == "base"), None)
    base_label = (f"基期（多为{col.year}年）" if col else "基期") if has_base else None
    title = f"{measure}：" + "与".join(x for x in (("基期" if has_base else ""),
                                                 (f"{year}年目标" if has_target else "")) if x)
    fig = FC.chart_figure(FC.order_items(items), title, base_label, f"{year}年目标" if has_target else None,
                          units.most_common(1)[0][0])
    return fig, RF.missing_html(missing, what)


def build_facts_tab(qa, friendly) -> gr.HTML:
    """The tab (inside the app's gr.Tabs); returns the table's HTML component, whose `click` events with a
    pilot ui/app.py sends to its `jump` handler."""
    facts = list(qa.index.facts)
    measures = measure_order(facts)
    provinces = list(qa.pilots_by_province())
    chart_measure = measures[0] if measures else None
    years = target_years(facts, chart_measure) if chart_measure else []
    core = [m for m in CORE if m in measures]

    def table_view(province, chosen, name, sort):
        try:
            table, rows = build_table(qa, province, chosen, name)
            sort = sort if isinstance(sort, dict) else {}
            table = sort_rows(table, sort.get("key"), bool(sort.get("desc")))
            html = RF.facts_summary(table, len(_pilots(qa)), sum(len(r.cells) for r in table.rows)) + \
                RF.facts_table_html(table, sort.get("key"), bool(sort.get("desc")))
            return html, write_csv(rows, province)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a traceback
            return R.message_html(friendly(exc), "refusal"), None

    def on_sort(province, chosen, name, sort, evt: gr.EventData):
        key = (getattr(evt, "_data", None) or {}).get("sort")
        if not key:
            return gr.skip(), gr.skip()
        sort = sort if isinstance(sort, dict) else {}
        if sort.get("key") == key:
            sort = {"key": key, "desc": not sort.get("desc")}
        else:
            sort = {"key": key, "desc": NUMERIC_FIRST_DESC and key not in ("pilot", "province")}
        html, _ = table_view(province, chosen, name, sort)
        return html, sort

    def chart_view(province, name, measure, year):
        try:
            return chart_parts(qa, province, name, measure, year)
        except Exception as exc:  # noqa: BLE001
            return None, R.message_html(friendly(exc), "refusal")

    def on_measure(province, name, measure):
        ys = target_years(list(qa.index.facts), measure) if measure else []
        year = default_year(list(qa.index.facts), measure) if measure else None
        fig, missing = chart_view(province, name, measure, year)
        return gr.Dropdown(choices=[(f"{y}年", y) for y in ys], value=year, interactive=bool(ys)), fig, missing

    with gr.Tab("指标", id="facts") as tab:
        gr.HTML('<div class="pq-intro">各试点工作方案写明的主要指标：基期数字和 2017、2020 年等目标。数字照原文书写，'
                "点击即可在“试点浏览”中看到它所在的原文行。</div>", apply_default_css=False)
        with gr.Row(equal_height=False, elem_id="pq-facts-filters"):
            province = gr.Dropdown([("全部省份", ALL)] + [(p, p) for p in provinces], value=ALL, label="省份",
                                   elem_id="pq-facts-province", scale=2, min_width=140)
            chosen = gr.Dropdown(measures, value=core, multiselect=True, label="指标（可多选）",
                                 elem_id="pq-facts-measures", scale=5, min_width=240)
            name = gr.Textbox(label="试点名称", placeholder="输入名称筛选，如：房山", elem_id="pq-facts-name",
                              scale=2, min_width=140, max_lines=1)
            csv = gr.DownloadButton("下载表格", value=None, variant="secondary", size="md", elem_id="pq-facts-csv",
                                    scale=1, min_width=110)
        sort = gr.State({"key": None, "desc": False})
        # filled when the tab is opened (not sent with every page of the app)
        table = gr.HTML('<div class="pq-facts-summary">正在载入……</div>', elem_id="pq-facts-table", js_on_load=FACTS_JS, apply_default_css=False)
        gr.HTML('<div class="pq-h pq-chart-h">单项指标对比</div>', apply_default_css=False)
        with gr.Row(elem_id="pq-chart-controls"):
            measure = gr.Dropdown(measures, value=chart_measure, label="图表指标", elem_id="pq-chart-measure",
                                  scale=3, min_width=200)
            year = gr.Dropdown([(f"{y}年", y) for y in years], value=default_year(facts, chart_measure)
                               if chart_measure else None, label="目标年份", elem_id="pq-chart-year", scale=1,
                               min_width=120, interactive=bool(years))
        plot = gr.Plot(label="对比图", show_label=False, format="png", elem_id="pq-chart")
        missing = gr.HTML(elem_id="pq-chart-missing", apply_default_css=False)

    table_in = [province, chosen, name, sort]
    chart_in = [province, name, measure, year]
    refresh = [tab.select, province.change, chosen.change, name.change]
    gr.on(refresh, table_view, inputs=table_in, outputs=[table, csv], api_name="facts_table",
          trigger_mode="always_last", show_progress="hidden")
    gr.on([tab.select, province.change, name.change, year.input], chart_view, inputs=chart_in,
          outputs=[plot, missing], api_name="facts_chart", trigger_mode="always_last", show_progress="hidden")
    measure.input(on_measure, inputs=[province, name, measure], outputs=[year, plot, missing],
                  api_visibility="private", show_progress="hidden")
    table.click(on_sort, inputs=table_in, outputs=[table, sort], api_visibility="private", show_progress="hidden")
    return table
