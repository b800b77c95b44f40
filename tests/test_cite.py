"""`qa.cite(quote)` verdicts on a table of quotes built from the corpus here: verbatim (one across a page
break), one character changed, one figure changed, clauses reordered, and made-up sentences.

A quote that is not verbatim never scores 1; a changed figure is named with the source's figure. The verdict
bar is `rag.cite.CLOSE_BAR`; the scores measured per class are printed (`-s`) for whoever sets it."""
from __future__ import annotations

import pytest

from rag.answer.cite import CLOSE_BAR, LABELS
from rag.config import ROOT
from rag.text import norm

LINES = (ROOT / "data" / "pilots-batch2.txt").read_text(encoding="utf-8").splitlines()
FANGSHAN, DONGLI, BAOTOU = "北京市房山区", "天津市东丽区", "内蒙古自治区包头市"
QUANZHOU, YONGAN, WEIXIAN = "广西壮族自治区全州县", "福建省永安市", "河北省威县"

# (quote, pilot, first line, last line) — verbatim, whatever the spacing and width of the characters
VERBATIM = [
    ("到2020年，森林覆盖率达到45%", FANGSHAN, 91, 91),
    ("加快构建“新城—小城镇—新型农村社区”体系，实现“生产高效、生活幸福、生态宜居”的城镇化建设目标",
     FANGSHAN, 87, 89),                                                                      # across a page break
    ("2015—2020 年城镇化率年均增速为 3%，超过辽宁省平均增长水平", "辽宁省前阳镇", 693, 695),  # across a page break
    ("整合市直有关部门专项资金，五年内每年不低于５亿元", DONGLI, 183, 183),                      # fullwidth digit
    ("北与蒙古国接壤，国境线 88 公里", BAOTOU, 467, 467),
    ("全州县位于广西东北部，是桂林市土地面积最大、人口最多的县", QUANZHOU, 2135, 2135),
    ("到2020年，常住人口城镇化率达到70%，户籍人口城镇化率达到60%", YONGAN, 1241, 1241),          # spaces dropped
    ("包頭市地處祖國北疆", BAOTOU, 467, 467),                                                  # traditional
]

# (quote, pilot, line) — one character changed, no figure
ONE_CHAR = [
    ("到2020年，森林覆盖率达至45%", FANGSHAN, 91),
    ("整合市直有关部门专项资金，五年内每年不少于5亿元", DONGLI, 183),
    ("全州县位于广西东南部，是桂林市土地面积最大、人口最多的县", QUANZHOU, 2135),
    ("加快构建“新城—小城镇—新型农村社区”体系，实现“生产高效、生活幸运、生态宜居”的城镇化建设目标", FANGSHAN, 89),
    ("居住证制度与户口制度有效衔接，实现常住人口基本公共服务全覆盖", YONGAN, 1243),
]

# (quote, pilot, line, figure in the quote, the source's figure in its place)
FIGURE = [
    ("到2020年，森林覆盖率达到46%", FANGSHAN, 91, "46", "45"),   # 韩城市 states 森林覆盖率达到46%以上: still 房山's 45%
    ("北与蒙古国接壤，国境线 98 公里", BAOTOU, 467, "98", "88"),
    ("整合市直有关部门专项资金，五年内每年不低于8亿元", DONGLI, 183, "8", "5"),
    ("全州县位于广西东北部，是桂林市土地面积最大、人口最多的县，面积4201平方公里", QUANZHOU, 2135, "4201", "4021"),
    ("到 2020 年，常住人口城镇化率达到 70%，户籍人口城镇化率达到 65%", YONGAN, 1241, "65", "60"),
    ("城镇化率年均增长 2.5 个百分点，全市城镇常住人口达到 263 万人", "四川省绵阳市", 2489, "2.5", "2"),
]

# (quote, pilot, line) — the source's clauses in another order
REORDERED = [
    ("户籍人口城镇化率达到36.1%，到2020年，常住人口城镇化率达到43.2%以上", WEIXIAN, 241),
    ("森林覆盖率达到45%，到2020年，森林质量持续提高", FANGSHAN, 91),
    ("人口最多的县，是桂林市土地面积最大，全州县位于广西东北部", QUANZHOU, 2135),
    ("统筹用于新型城镇化发展，整合市直有关部门专项资金，五年内每年不低于5亿元", DONGLI, 183),
    ("国境线 88 公里，北与蒙古国接壤", BAOTOU, 467),
]

MADE_UP = [
    "到2030年，全面建成国际一流的航空航天产业创新中心",
    "房山区将在五年内新建二十座大型水上乐园",
    "包头市计划引进十家世界五百强企业设立区域总部",
    "所有试点都必须在2018年底前取消农业户口",
    "每个乡镇都要建设一座国际会展中心和五星级酒店",
    "试点地区的居民可以免费乘坐高铁往返北京",
    "到2020年，全市机器人产业产值突破三千亿元",
]


def test_the_table_is_what_it_says():
    """The quotes are built right: verbatim ones are in the file on their lines, the others are not."""
    def on_lines(q, a, b):
        return norm(q.replace("包頭市地處祖國北疆", "包头市地处祖国北疆")) in norm("".join(LINES[a - 1:b]))

    for q, _, a, b in VERBATIM:
        assert on_lines(q, a, b), q
    whole = norm("".join(LINES))
    for row in (*ONE_CHAR, *FIGURE, *REORDERED):
        q = row.values[0] if hasattr(row, "values") else row[0]
        assert norm(q) not in whole, q
    for q in MADE_UP:
        assert norm(q) not in whole
    assert len(VERBATIM) + len(ONE_CHAR) + len(FIGURE) + len(REORDERED) + len(MADE_UP) >= 30


@pytest.mark.parametrize("quote, pilot, a, b", VERBATIM)
def test_verbatim(qa, quote, pilot, a, b):
    r = qa.cite(quote)
    assert (r.verdict, r.label, r.score) == ("verbatim", LABELS["verbatim"], 1.0)
    m = next(m for m in r.matches if m.pilot == pilot)
    assert m.exact and m.start_line <= a and b <= m.end_line
    assert r.changed_figures == [] and r.diff == [("same", r.diff[0][1])]


@pytest.mark.parametrize("quote, pilot, line", ONE_CHAR)
def test_one_character_changed(qa, quote, pilot, line):
    r = qa.cite(quote)
    print(f"\none-char  {r.score:.3f} {quote}")
    assert r.verdict == "differs" and 0 < r.score < 1
    m = r.matches[0]
    assert (m.pilot, m.exact) == (pilot, False) and m.start_line <= line <= m.end_line
    assert r.changed_figures == []
    assert any(kind != "same" for kind, _ in r.diff)


@pytest.mark.parametrize("quote, pilot, line, mine, theirs", FIGURE)
def test_one_figure_changed(qa, quote, pilot, line, mine, theirs):
    r = qa.cite(quote)
    print(f"\nfigure    {r.score:.3f} {r.changed_figures} {quote}")
    assert r.verdict == "differs" and r.label == "与原文不一致" and 0 < r.score < 1
    assert r.matches[0].pilot == pilot and r.matches[0].start_line <= line <= r.matches[0].end_line
    assert r.changed_figures == [(mine, theirs)]


@pytest.mark.parametrize("quote, pilot, line", REORDERED)
def test_clauses_reordered(qa, quote, pilot, line):
    r = qa.cite(quote)
    print(f"\nreordered {r.score:.3f} {r.verdict} {r.changed_figures} {quote}")
    assert r.verdict == "differs" and 0 < r.score < 1
    assert r.matches[0].pilot == pilot and r.matches[0].start_line <= line <= r.matches[0].end_line
    assert r.changed_figures == []


@pytest.mark.parametrize("quote", MADE_UP)
def test_made_up(qa, quote):
    r = qa.cite(quote)
    print(f"\nmade-up   {r.score:.3f} {quote}")
    assert r.verdict == "absent" and r.label == "文件中没有" and r.score < CLOSE_BAR


def test_figure_change_is_never_a_match(qa):
    """88 → 98 differs by one character, and still differs as a figure."""
    r = qa.cite("北与蒙古国接壤，国境线 98 公里")
    assert r.verdict != "verbatim" and ("98", "88") in r.changed_figures
    assert any(kind == "changed" and "9" in text for kind, text in r.diff)
    d = r.to_dict()
    assert d["label"] == "与原文不一致" and d["changed_figures"] == [["98", "88"]]
    assert d["matches"][0]["span"] and "88" in d["matches"][0]["span"]


def test_context_lines_around_a_verbatim_match(qa):
    r = qa.cite("北与蒙古国接壤，国境线 88 公里", context=1)
    m = r.matches[0]
    assert m.section == "引言" and m.text.startswith("包头市地处祖国北疆")
    assert [n for n, _ in m.context_before] == [465] and m.context_after and m.context_after[0][0] == 469
