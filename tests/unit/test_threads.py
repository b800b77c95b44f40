"""The analyzer is shared by request threads: answers must not depend on what another thread asks meanwhile.
A question that names its pilot only by description is analysed while other threads resolve follow-ups (which
analyse with descriptions switched off); every result must equal the one the question gets alone."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from rag.query.conversation import resolve

DESCRIBED = "南宋诗人陆某出生地那个县2017年常住人口城镇化率目标是多少？"
MIXED = [
    ("ask", DESCRIBED, ()),
    ("ask", "素有茶香之乡美誉的那个县面积有多大？", ()),
    ("follow", "那户籍人口的呢？", ("青禾县2020年常住人口城镇化率目标是多少？",)),
    ("follow", "它的面积呢？", ("云泽市2020年常住人口城镇化率目标是多少？",)),
    ("ask", "哪些试点提出推广智慧供暖？", ()),
    ("ask", "青禾和云泽2020年常住人口城镇化率哪个更高？", ()),
    ("follow", "这个镇呢？", ("澜溪镇的面积有多大？",)),
]


def run(analyzer, item):
    kind, question, history = item
    if kind == "ask":
        return analyzer.analyze(question)
    r = resolve(question, list(history), analyzer)
    return r.question, r.info


def test_sixteen_threads_get_the_answers_each_question_gets_alone(analyzer):
    alone = [run(analyzer, item) for item in MIXED]
    work = MIXED * 40
    with ThreadPoolExecutor(max_workers=16) as pool:
        together = list(pool.map(lambda item: run(analyzer, item), work))
    expected = alone * 40
    wrong = [work[i][1] for i, (a, b) in enumerate(zip(together, expected)) if a != b]
    assert not wrong, f"{len(wrong)} of {len(work)} answers changed under concurrency, e.g. {wrong[:3]}"
    assert alone[0].pilots == ("浙江省青禾县",) and alone[0].resolved_by == "description"
