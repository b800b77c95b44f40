"""Follow-up resolution on the tiny corpus: what an elliptical question is understood as, given the earlier turns."""
from __future__ import annotations

import pytest

from rag.query.conversation import resolve


@pytest.mark.parametrize("history, question, understood", [
    (["青禾县2020年常住人口城镇化率目标是多少？"], "那户籍人口的呢？", "青禾县2020年户籍人口城镇化率目标是多少？"),
    (["青禾县2020年常住人口城镇化率目标是多少？"], "2017年的呢？", "青禾县2017年常住人口城镇化率目标是多少？"),
    (["青禾县2020年常住人口城镇化率目标是多少？"], "云泽市呢？", "云泽市2020年常住人口城镇化率是多少？"),
    (["青禾县2020年常住人口城镇化率目标是多少？"], "和澜溪镇比呢？", "青禾县和澜溪镇2020年常住人口城镇化率分别是多少？"),
    (["青禾县的面积有多大？"], "它的常住人口呢？", "青禾县的常住人口是多少？"),
])
def test_a_follow_up_is_made_whole_from_the_earlier_turns(analyzer, history, question, understood):
    r = resolve(question, history, analyzer)
    assert r.changed and r.question == understood
    assert r.info is not None and r.info.pilots  # the resolved question names its pilot


def test_a_question_with_its_own_pilot_and_ask_starts_anew(analyzer):
    r = resolve("云泽市的面积有多大？", ["青禾县2020年常住人口城镇化率目标是多少？"], analyzer)
    assert not r.changed and r.info.pilots == ("四川省云泽市",) and r.info.measure == "面积"


def test_no_history_changes_nothing(analyzer):
    assert not resolve("那户籍人口的呢？", [], analyzer).changed


def test_a_turn_refers_back_through_an_earlier_follow_up(analyzer):
    history = ["青禾县2020年常住人口城镇化率目标是多少？", "那户籍人口的呢？"]
    r = resolve("2017年的呢？", history, analyzer)
    assert r.question == "青禾县2017年户籍人口城镇化率目标是多少？"
