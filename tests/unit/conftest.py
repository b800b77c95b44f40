"""A tiny corpus in the pilots file's format, written here, and the analyzer built from it: the rule core is
tested on text whose every line the test can see, with no built index and no model."""
from __future__ import annotations

import pytest

from rag.corpus import load_corpus
from rag.knowledge.gazetteer import gazetteer
from rag.query.analysis import QuestionAnalyzer
from rag.text import norm, to_simplified

PILOTS = """| 序号 | 试点 | 页码 |
| --- | --- |
| 浙江省青禾县试点工作方案要点 | 1 |
| 浙江省澜溪镇试点工作方案要点 | 2 |
| 四川省云泽市试点工作方案要点 | 3 |

浙江省青禾县国家新型城镇化综合试点 工作方案要点

青禾县位于浙江省西部，隶属于澄州市，是南宋诗人陆某出生地，素有“茶香之乡”的美誉。全县土地总面积 1200 平方公里。2014 年，全县常住人口 45 万人，常住人口城镇化率 42.5%；户籍人口城镇化率 30.1%。
一、总体目标
到 2017 年，常住人口城镇化率达到 48%，户籍人口城镇化率达到 35%。到 2020 年，常住人口城镇化率达到 55%，户籍人口城镇化率达到 42%，森林覆盖率达到 61%。
二、主要任务
（一）推进农业转移人口市民化。全面放开县城落户限制，推广智慧供暖，建设海绵城市示范区。
（二）建设特色小镇。重点培育茶叶、竹木、文旅三个特色小镇。
三、保障措施
（一）加强组织领导。成立以县长为组长的试点工作领导小组，办公室设在县发改局。

浙江省澜溪镇国家新型城镇化综合试点 工作方案要点

澜溪镇隶属于湖州市，是长三角的门户重镇。全镇面积 86 平方公里，2014 年常住人口 9.8 万人，常住人口城镇化率 58%。
一、总体目标
到 2020 年，常住人口城镇化率达到 70%，户籍人口城镇化率达到 52%。
二、主要任务
（一）深化扩权强镇改革。赋予镇级县级经济社会管理权限，推广智慧供暖。
三、保障措施
（一）加强组织领导。成立以镇党委书记为组长的领导小组。

四川省云泽市国家新型城镇化综合试点 工作方案要点

云泽市是川西的交通枢纽，全市面积 2.6 万平方公里，2014 年常住人口 210 万人，常住人口城镇化率 47.2%。
一、总体目标
到 2017 年，常住人口城镇化率达到 52%；到 2020 年，常住人口城镇化率达到 60%，户籍人口城镇化率达到 45%。
二、主要任务
（一）推进产城融合。建设海绵城市，发展临空经济。
三、保障措施
（一）强化资金保障。设立 10 亿元城镇化发展基金。
"""


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "pilots.txt"
    path.write_text(PILOTS, encoding="utf-8")
    return load_corpus([path])


@pytest.fixture(scope="session")
def analyzer(tiny_corpus) -> QuestionAnalyzer:
    texts = {}
    for p in tiny_corpus.pilots:
        lines = [p.heading, *(x.text for x in p.paragraphs())]
        texts[p.name] = "\n".join(norm(to_simplified(x)) for x in lines)
    return QuestionAnalyzer(gazetteer(tiny_corpus), texts)


@pytest.fixture(scope="session")
def tiny_chunks(tiny_corpus):
    from rag.index.chunking import ChunkSettings, chunk_corpus

    return chunk_corpus(tiny_corpus, ChunkSettings())


@pytest.fixture(scope="session")
def tiny_facts(tiny_corpus, tiny_chunks):
    from rag.index.facts import extract_facts

    return extract_facts(tiny_corpus, tiny_chunks)


@pytest.fixture(scope="session")
def fact_analyzer(tiny_corpus, tiny_facts) -> QuestionAnalyzer:
    """The analyzer as an index with a fact table builds it: aggregate questions are read."""
    texts = {p.name: "\n".join(norm(to_simplified(x)) for x in [p.heading, *(y.text for y in p.paragraphs())])
             for p in tiny_corpus.pilots}
    return QuestionAnalyzer(gazetteer(tiny_corpus), texts, frozenset(f.measure for f in tiny_facts))
