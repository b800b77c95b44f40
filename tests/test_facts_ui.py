"""The 指标 tab and aggregate answers in the chat.

Pure rendering first (made-up fact rows: the pivot, the table's cells and sorting, the chat's bars), then the
app in a real browser (Debian chromium via Playwright, tests/browser_support.py): filter the table by a
province, sort it by a column, open a figure's line in 试点浏览, chart one measure, download the CSV and compare
it with `pilotqa facts --csv`; ask an aggregate question and read the chat's table and bars. Screenshots at
1366×768 and 420 px go to a temporary folder (printed with -s).
"""
from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import pytest
from browser_support import (  # noqa: F401 - `browser` is a fixture
    FINAL,
    LAPTOP,
    NARROW,
    TABS,
    ask,
    browser,
    english_words,
    open_page,
    open_tab,
    serve,
    visible_text,
    wait_answers,
)

from rag.index.facts import Fact
from rag.retrieval.facts_wide import filter_rows, pivot, sort_rows, table_facts


def fact(pilot, province, measure, kind, year, value, text, line, note="", unit="%"):
    return Fact(pilot=pilot, province=province, measure=measure, qualifier="", kind=kind, year=year, value=value,
                unit=unit, text=text, line=line, chunk_id="c", note=note)


A, B, C = "甲省青禾县", "甲省澜溪镇", "乙省云泽市"
FACTS = [
    fact(A, "甲省", "常住人口城镇化率", "base", 2014, 42.5, "42.5%", 10),
    fact(A, "甲省", "常住人口城镇化率", "target", 2020, 55.0, "55%", 12),
    fact(B, "甲省", "常住人口城镇化率", "base", 2013, 61.0, "61%左右", 30, note="镇区（试点的一部分）"),
    fact(B, "甲省", "常住人口城镇化率", "target", 2020, 70.0, "70%以上", 31),
    fact(C, "乙省", "常住人口城镇化率", "base", 2014, 38.0, "38%", 50),
    fact(C, "乙省", "面积", "base", 2014, 1200.0, "1200 平方公里", 51, unit="平方公里"),
]
PILOTS = [(A, "甲省"), (B, "甲省"), (C, "乙省"), ("丙省无数县", "丙省")]


# --------------------------------------------------------------------------- pure: the table


def test_pivot_has_a_row_per_pilot_and_a_column_per_measure_and_year():
    t = pivot(FACTS, PILOTS)
    assert [c.key for c in t.columns] == ["常住人口城镇化率|base", "常住人口城镇化率|target|2020", "面积|base"]
    assert t.columns[0].year == 2014 and t.columns[0].count == 3   # the base column names the usual year
    assert [r.pilot for r in t.rows] == [A, B, C, "丙省无数县"]     # a pilot with no figure is still a row
    assert t.rows[3].cells == {}
    assert t.rows[1].cells["常住人口城镇化率|base"].text == "61%左右"
    only = pivot(FACTS, PILOTS, ["面积"])
    assert [c.key for c in only.columns] == ["面积|base"]


def test_sorting_keeps_missing_figures_last_both_ways():
    t = pivot(FACTS, PILOTS)
    down = sort_rows(t, "常住人口城镇化率|target|2020", descending=True)
    assert [r.pilot for r in down.rows] == [B, A, C, "丙省无数县"]
    up = sort_rows(t, "常住人口城镇化率|target|2020", descending=False)
    assert [r.pilot for r in up.rows] == [A, B, C, "丙省无数县"]
    assert [r.province for r in sort_rows(t, "province", True).rows] == ["丙省", "乙省", "甲省", "甲省"]


def test_filters_and_the_facts_behind_the_table():
    t = pivot(FACTS, PILOTS)
    assert [r.pilot for r in filter_rows(t, province="甲省").rows] == [A, B]
    assert [r.pilot for r in filter_rows(t, text=" 云泽 ").rows] == [C]
    kept = table_facts(FACTS, filter_rows(t, province="乙省"))
    assert kept == [FACTS[4], FACTS[5]]                               # the fact table's own order
    assert table_facts(FACTS, filter_rows(t, province="乙省"), ["面积"]) == [FACTS[5]]


def test_table_html_shows_figures_as_written_links_notes_and_missing():
    from ui.render_facts import facts_table_html

    t = sort_rows(pivot(FACTS, PILOTS), "常住人口城镇化率|target|2020", True)
    html = facts_table_html(t, "常住人口城镇化率|target|2020", True)
    assert "<th colspan=\"2\" class=\"pq-fmeasure\">常住人口城镇化率</th>" in html
    assert ">2014年<" in html and ">2020年目标<" in html
    # a figure is a button that carries its pilot and line, shown as written; another base year is named
    assert f'data-pilot="{B}" data-start="30" data-end="30"' in html
    assert "61%左右<span class=\"pq-fyear\">（2013年）</span>" in html
    assert 'class="pq-note-mark" title="镇区（试点的一部分）">※</span>' in html  # the note as a tooltip
    assert html.count('class="pq-fmissing"') == 1 + 1 + 1 + 3   # A, B: no 面积; C: no target; 无数县: nothing
    # the sorted column says so, with its direction
    assert 'aria-sort="descending"><button type="button" class="pq-sort pq-sorted" ' \
           'data-sort="常住人口城镇化率|target|2020"' in html
    assert "没有符合条件的试点" in facts_table_html(filter_rows(t, province="丁省"))


def test_table_html_is_inert():
    from ui.render_facts import facts_table_html

    bad = fact('<img src=x onerror="alert(1)">县', "甲省", "面积", "base", 2014, 1.0, "<script>x</script>", 3)
    html = facts_table_html(pivot([bad], [(bad.pilot, "甲省")]))
    assert "<img" not in html and "<script" not in html and "&lt;img" in html


# --------------------------------------------------------------------------- pure: an aggregate answer in the chat

AGG = {
    "question": "2020年常住人口城镇化率目标最高的是哪个试点？", "shape": "aggregate", "answerable": True,
    "answer": "最高的试点是乙县。\n1. 乙县：94.5%[1]\n2. 甲县：45%[2]\n另有 3 个试点未提出该目标。\n"
              "未计入：丙县 65%[3]（口径为“城镇化率（未注明常住/户籍）”）。",
    "rows": [
        {"pilot": "乙县", "answer": "94.5%", "figure": "94.5%", "value": 94.5, "unit": "%", "n": 1, "year": 2020,
         "kind": "target", "measure": "常住人口城镇化率", "role": "result", "note": ""},
        {"pilot": "甲县", "answer": "45%", "figure": "45%", "value": 45.0, "unit": "%", "n": 2, "year": 2020,
         "kind": "target", "measure": "常住人口城镇化率", "role": "context", "note": ""},
        {"pilot": "丙县", "answer": "65%", "figure": "65%", "value": 65.0, "unit": "%", "n": 3, "year": 2020,
         "kind": "target", "measure": "常住人口城镇化率", "role": "aside", "note": "口径为“城镇化率（未注明常住/户籍）”"},
    ],
    "citations": [], "passages": [],
}


def test_bar_widths_are_classes_in_steps_of_five():
    from ui.render_facts import bar_class

    assert bar_class(94.5, 100) == "pq-w-95"
    assert bar_class(0.3, 100) == "pq-w-5"        # a positive figure is never drawn as nothing
    assert bar_class(250, 100) == "pq-w-100"
    assert bar_class(None, 100) == bar_class(5, 0) == "pq-w-0"


def test_aggregate_answer_shows_a_table_with_bars_and_the_rest_of_its_text():
    from ui.render import answer_bubble

    html = answer_bubble(AGG, 0)
    table = re.search(r'<table class="pq-compare pq-agg">.*?</table>', html).group(0)
    rows = re.findall(r'<tr class="pq-agg-(\w+)">(.*?)</tr>', table)
    assert [r[0] for r in rows] == ["result", "context", "aside"]
    assert "pq-w-95" in rows[0][1] and "pq-w-45" in rows[1][1] and "pq-w-65" in rows[2][1]  # rates: of 100%
    assert "未计入：口径为" in rows[2][1] and 'cite-n-3">[3]' in rows[2][1]
    # the listing the table shows is not repeated; what it does not show stays, after it
    assert "1. 乙县" not in html and "未计入：丙县" not in html
    assert html.index("最高的试点是乙县") < html.index("<table") < html.index("另有 3 个试点未提出该目标")
    assert "style=" not in html and "<img" not in html                            # the chat's sanitizer rules
    # rows of other measures or years name them; bars of another unit scale on their own
    mixed = dict(AGG, rows=[dict(AGG["rows"][0], year=2014, kind="base"),
                            dict(AGG["rows"][1], unit="万人", value=30.0, measure="常住人口")])
    mixed_html = answer_bubble(mixed, 0)
    assert "<th>指标</th><th>年份</th>" in mixed_html and "2014年" in mixed_html and "2020年目标" in mixed_html
    assert "pq-w-100" in mixed_html  # 30 万人 is the largest of its unit


def test_csv_file_has_a_bom_and_the_cli_form(tmp_path, monkeypatch):
    from rag.retrieval.forms import facts_csv
    from ui import factstab

    monkeypatch.setattr(factstab, "EXPORT_DIR", tmp_path)
    path = Path(factstab.write_csv(FACTS[:2], "甲省"))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.decode("utf-8") == facts_csv(FACTS[:2])
    assert path.name.startswith("试点指标-甲省-") and path.suffix == ".csv"
    assert not list(tmp_path.glob(".*.tmp"))   # written whole, then renamed into place


# --------------------------------------------------------------------------- in the browser

CORE = ("常住人口城镇化率", "户籍人口城镇化率", "常住人口", "面积")
PROVINCE = "山东省"
SORT_KEY = "常住人口|base"
AGG_Q = "2020年常住人口城镇化率目标最高的是哪个试点？"


@pytest.fixture(scope="module")
def app_url(qa, config):
    demo, url = serve(qa, config)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("facts-screenshots")
    print(f"\nscreenshots: {folder}")
    return folder


def _rows(page) -> list[str]:
    return page.eval_on_selector_all("#pq-facts-table tbody .pq-fpilot", "els => els.map(e => e.title)")


def _wait_rows(page, n: int) -> None:
    page.wait_for_function(f"() => document.querySelectorAll('#pq-facts-table tbody tr').length === {n}")


def _pick(page, elem: str, option: str) -> None:
    page.locator(f"{elem} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def _chart_src(page) -> str:
    return page.locator("#pq-chart img").first.get_attribute("src") or ""


def test_facts_tab_filter_sort_jump_chart_and_csv(browser, app_url, qa, config, shots, tmp_path):  # noqa: F811
    from bench.common import config_env, pilotqa_command

    facts = qa.facts()
    mine = qa.pilots_by_province()[PROVINCE]
    ctx, page = open_page(browser, app_url, LAPTOP)
    try:
        open_tab(page, "指标")
        page.wait_for_selector("#pq-facts-table .pq-facts")
        _wait_rows(page, sum(len(v) for v in qa.pilots_by_province().values()))  # every pilot, figures or not

        # filter by a province: only its pilots remain
        _pick(page, "#pq-facts-province", PROVINCE)
        _wait_rows(page, len(mine))
        assert sorted(_rows(page)) == sorted(mine)
        assert "个试点（共 59 个）" in page.locator("#pq-facts-table .pq-facts-summary").inner_text()

        # sort by 常住人口 (base): highest first, pilots without the figure last; a second click reverses
        have = {f.pilot: f.value for f in facts if f.measure == "常住人口" and f.kind == "base" and f.pilot in mine}
        head = page.locator(f'#pq-facts-table .pq-sort[data-sort="{SORT_KEY}"]')
        head.click()
        page.wait_for_selector("#pq-facts-table th[aria-sort=descending] .pq-sorted")
        got = _rows(page)
        assert got[:len(have)] == sorted(have, key=lambda p: -have[p]), got
        assert set(got[len(have):]) == set(mine) - set(have)
        page.locator(f'#pq-facts-table .pq-sort[data-sort="{SORT_KEY}"]').click()
        page.wait_for_selector("#pq-facts-table th[aria-sort=ascending] .pq-sorted")
        assert _rows(page)[:len(have)] == sorted(have, key=lambda p: have[p])
        page.screenshot(path=str(shots / "facts-1366.png"))

        # a figure opens its pilot in 试点浏览 with its line highlighted
        cell = page.locator("#pq-facts-table tbody tr").first.locator(".pq-fjump").first
        pilot, line = cell.get_attribute("data-pilot"), int(cell.get_attribute("data-start"))
        shown = cell.inner_text().split("（")[0]
        cell.click()
        page.wait_for_function("() => [...document.querySelectorAll('[role=tab]')].some(t => "
                               "t.getAttribute('aria-selected') === 'true' && t.innerText.trim() === '试点浏览')")
        page.wait_for_function(f"() => document.querySelector('#pq-browse .pq-outline')?.dataset.pilot === {pilot!r}")
        hl = page.locator("#pq-browse .pq-hl").first
        hl.wait_for()
        assert "".join(shown.split()) in "".join(hl.inner_text().split())
        start, end = (int(x) for x in (hl.locator(".pq-ln").inner_text().split("–") * 2)[:2])
        assert start <= line <= end
        assert page.locator("#pq-browse-pilot input").input_value().endswith(pilot)
        page.screenshot(path=str(shots / "facts-jump-1366.png"))

        # back in 指标: the filter is kept; chart another measure: base and target, the rest named 未提出
        open_tab(page, "指标")
        _wait_rows(page, len(mine))
        page.wait_for_function("() => (document.querySelector('#pq-chart img')?.src || '').startsWith('data:image/png')")
        before = _chart_src(page)
        _pick(page, "#pq-chart-measure", "户籍人口城镇化率")
        page.wait_for_function(f"() => (document.querySelector('#pq-chart img')?.src || '') !== {before!r}")
        assert page.locator("#pq-chart-year input").input_value() == "2020年"
        stated = {f.pilot for f in facts if f.measure == "户籍人口城镇化率" and f.pilot in mine
                  and (f.kind == "base" or f.year == 2020)}
        missing = page.locator("#pq-chart-missing").inner_text()
        assert f"未提出（{len(mine) - len(stated)} 个试点）" in missing
        for p in set(mine) - stated:
            assert p[len(PROVINCE):] in missing
        page.locator("#pq-chart").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "facts-chart-1366.png"), full_page=True)

        # the CSV: exactly what `pilotqa facts --csv` prints for these pilots and measures, with a BOM
        with page.expect_download() as dl:
            page.locator("#pq-facts-csv").click()
        raw = Path(dl.value.path()).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        got_rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        out = subprocess.run([*pilotqa_command(), "facts", "--csv"], env=config_env(config), capture_output=True,
                             text=True, encoding="utf-8", timeout=300, check=True, cwd=str(tmp_path)).stdout
        cli = list(csv.reader(io.StringIO(out)))
        want = [cli[0]] + [r for r in cli[1:] if r[1] == PROVINCE and r[2] in CORE]
        assert got_rows == want and len(want) > len(mine)

        # the name filter narrows further
        page.locator("#pq-facts-name textarea, #pq-facts-name input").first.fill("龙口")
        _wait_rows(page, 1)
        assert _rows(page) == ["山东省龙口市"]

        # the tab's own words are Chinese (figures and names are data; tooltips are English-free anyway)
        words = english_words(visible_text(page))
        assert not words, words

        # 420 px: all six tabs reachable, nothing scrolls sideways but the table and the chart in their boxes
        page.locator("#pq-facts-name textarea, #pq-facts-name input").first.fill("")
        _wait_rows(page, len(mine))
        page.set_viewport_size(NARROW)
        page.wait_for_timeout(500)
        assert all(page.get_by_role("tab", name=t).is_visible() for t in TABS)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= NARROW["width"]
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(shots / "facts-420.png"), full_page=True)
    finally:
        ctx.close()


def test_aggregate_answer_in_chat_has_table_and_bars(browser, app_url, qa, shots):  # noqa: F811
    expected = qa.ask(AGG_Q).to_dict()
    rows = [r for r in expected["rows"] if r.get("answer") is not None]
    ctx, page = open_page(browser, app_url, LAPTOP)
    try:
        ask(page, AGG_Q)
        wait_answers(page, 1)
        bubble = page.locator(FINAL).last
        table = bubble.locator("table.pq-agg")
        table.wait_for()
        trs = table.locator("tbody tr")
        assert trs.count() == len(rows)
        first = trs.first
        assert rows[0]["pilot"] in first.inner_text() and rows[0]["figure"] in first.inner_text()
        # each bar is drawn as wide as its share of 100% (the rates), within a step
        for i, r in enumerate(rows):
            track = trs.nth(i).locator(".pq-bar-track").bounding_box()
            bar = trs.nth(i).locator(".pq-bar").bounding_box()
            assert abs(bar["width"] / track["width"] - r["value"] / 100) <= 0.03, (r["pilot"], bar, track)
        asides = table.locator("tr.pq-agg-aside")
        assert asides.count() == sum(r["role"] == "aside" for r in rows)
        if asides.count():
            assert "未计入" in asides.first.inner_text()
        text = bubble.inner_text()
        assert "1. " + rows[0]["pilot"] not in text         # the listing is the table, not repeated
        assert "未提出该目标" in text
        page.screenshot(path=str(shots / "chat-aggregate-1366.png"))
        page.set_viewport_size(NARROW)
        page.wait_for_timeout(500)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= NARROW["width"]
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "chat-aggregate-420.png"))
    finally:
        ctx.close()
