"""The whole pipeline shared by 16 threads (as the API serves it): every answer equals the one the same question
gets alone — single questions, which-pilots, pilots named only by a description, follow-ups and comparisons."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

MIXED = [
    ("房山区2020年的森林覆盖率目标是多少？", None),
    ("苏东坡故乡那个城市2014年常住人口城镇化率是多少？", None),
    ("有“黔楚咽喉”之称的那个县2020年户籍人口城镇化率目标是多少？", None),
    ("哪些试点提出推广智慧供暖？", None),
    ("那户籍人口的呢？", ["威县2017年常住人口城镇化率要到多少？"]),
    ("临港呢？", ["房山到2020年常住人口城镇化率要达到多少？"]),
    ("房山区和青冈县2020年常住人口城镇化率哪个更高？", None),
    ("一共有多少个试点？", None),
]


def _key(ans):
    return ans.text, ans.answerable, [(c.chunk_id, c.quote) for c in ans.citations], ans.resolved_question


def test_sixteen_threads_answer_as_each_question_alone(qa):
    alone = [_key(qa.ask(q, history=h)) for q, h in MIXED]
    work = MIXED * 6
    with ThreadPoolExecutor(max_workers=16) as pool:
        together = list(pool.map(lambda item: _key(qa.ask(item[0], history=item[1])), work))
    wrong = [work[i][0] for i, (a, b) in enumerate(zip(together, alone * 6)) if a != b]
    assert not wrong, f"{len(wrong)} of {len(work)} answers changed under concurrency: {wrong[:4]}"
    assert alone[1][1] and alone[2][1], "the described pilots must be answered"
