"""Chunking on the real corpus (no mocks)."""
from __future__ import annotations


import pytest

from rag.index.chunking import DEFAULT_SETTINGS, Chunk, ChunkSettings, chunk_corpus, chunk_stats
from rag.corpus import load_corpus
from rag.text import norm, split_sentences

from conftest import CORPUS as DATA


@pytest.fixture(scope="module")
def chunks(corpus):
    return chunk_corpus(corpus, DEFAULT_SETTINGS)


@pytest.fixture(scope="module")
def lines():
    return DATA.read_text(encoding="utf-8").split("\n")


def test_defaults():
    assert DEFAULT_SETTINGS == ChunkSettings(max_chars=300, overlap_sentences=1)


def test_ids_stable_unique_and_settings_sensitive(corpus, chunks):
    again = chunk_corpus(load_corpus([DATA]), DEFAULT_SETTINGS)
    assert [c.id for c in again] == [c.id for c in chunks]
    assert len({c.id for c in chunks}) == len(chunks)
    other = chunk_corpus(corpus, ChunkSettings(max_chars=300, overlap_sentences=0))
    assert not ({c.id for c in other} & {c.id for c in chunks})


def test_chunks_stay_inside_their_pilot(corpus, chunks):
    spans = {p.name: (p.start_line, p.end_line) for p in corpus.pilots}
    for c in chunks:
        lo, hi = spans[c.pilot]
        assert lo <= c.start_line <= c.end_line <= hi, c
        assert c.province == corpus.pilot(c.pilot).province
    assert {c.pilot for c in chunks} == set(spans)


def test_chunk_text_is_corpus_text_of_its_lines(chunks, lines):
    for c in chunks:
        window = norm("".join(lines[c.start_line - 1: c.end_line]))
        assert norm(c.text) in window, c
        # the span is tight: the text starts on start_line and ends on end_line
        t = norm(c.text)
        assert t[:4] in norm(lines[c.start_line - 1]), c
        assert t[-4:] in norm(lines[c.end_line - 1]), c


def test_every_body_line_is_covered(corpus, chunks, lines):
    covered = set()
    for c in chunks:
        covered.update(range(c.start_line, c.end_line + 1))
    headings = {p.start_line for p in corpus.pilots}
    for p in corpus.pilots:
        for _, s in p.iter_sections():
            if not s.paragraphs or s.paragraphs[0].start_line != s.start_line:
                headings.add(s.start_line)
    first = corpus.pilots[0].start_line
    missing = [i for i in range(first, len(lines) + 1)
               if lines[i - 1].strip() and i not in covered and i not in headings]
    assert missing == []


def test_sizes_respect_max_chars(chunks):
    st = chunk_stats(chunks)
    assert st["count"] == len(chunks) > 59
    assert st["max"] <= DEFAULT_SETTINGS.max_chars * 1.5
    assert st["min"] <= st["median"] <= st["p90"] <= st["max"]


def test_page_break_phrase_found_in_one_chunk(chunks):
    hits = [c for c in chunks if "新型农村社区" in norm(c.text) and c.pilot == "北京市房山区"]
    assert len(hits) == 1
    (c,) = hits
    assert c.start_line <= 87 and c.end_line >= 89
    assert "新型农村社区" in c.text  # the joined paragraph reads continuously, no newline inside
    assert c.section == "一、总体目标" and c.top_section == "一、总体目标"


def test_sections_and_embed_text(chunks):
    fs = [c for c in chunks if c.pilot == "北京市房山区"]
    # the pilot's heading line opens its intro chunk: a count question cites it as the proof of a pilot
    assert fs[0].section == fs[0].top_section == "引言" and (fs[0].start_line, fs[0].end_line) == (77, 79)
    assert fs[0].text.startswith("北京市房山区国家新型城镇化综合试点") and "西南门户" in fs[0].text
    sec = "二、主要任务 > （三）加强引导推广，全面推进绿色智慧城镇建设"
    (c,) = [c for c in fs if c.section == sec]
    assert c.top_section == "二、主要任务" and (c.start_line, c.end_line) == (103, 105)
    assert c.text.startswith("（三）加强引导推广")  # the item's heading line opens its chunk
    assert c.embed_text == f"北京市房山区 {sec}：{c.text}"
    # inline heading: the text keeps the full original line
    (org,) = [c for c in fs if c.section == "三、保障措施 > （一）加强组织领导"]
    assert org.text.startswith("（一）加强组织领导。成立以区长")
    # each dash-led goal is a chunk of its own
    goals = [c for c in fs if c.section == "一、总体目标" and c.text.startswith("——")]
    assert len(goals) == 3 and all(c.text.count("——") == 1 or "\n" not in c.text for c in goals)


def _paragraph_texts(corpus):
    return {norm(q.text) for p in corpus.pilots for q in p.paragraphs()}


def test_long_item_split_on_sentences_with_overlap(corpus):
    st = ChunkSettings(max_chars=120, overlap_sentences=1)
    small = chunk_corpus(corpus, st)
    pars = _paragraph_texts(corpus)
    overlaps = 0
    for a, b in zip(small, small[1:]):
        last = a.text.split("\n")[-1]
        # a chunk ends at a sentence end, at a paragraph end, or (over-long sentence only) after a ，
        assert last[-1] in "。！？；：，" or any(x.endswith(norm(last)) for x in pars), a
        if a.pilot == b.pilot and b.start_line <= a.end_line:
            head = split_sentences(b.text)[0]
            if norm(head) and norm(a.text).endswith(norm(head)):
                overlaps += 1
    assert overlaps > 50
    # an item's heading line may sit on top of its first (over-long) sentence
    body = [c.text.split("\n", 1)[-1] if c.text.startswith(c.section.split(" > ")[-1]) else c.text for c in small]
    assert max(len(t) for t in body) <= st.max_chars * 1.5
    # without overlap no sentence is repeated in the next chunk
    no_ov = chunk_corpus(corpus, ChunkSettings(max_chars=120, overlap_sentences=0))
    assert len(no_ov) < len(small)
    assert sum(len(c.text) for c in no_ov) < sum(len(c.text) for c in small)


def test_paragraph_boundaries_preferred(corpus):
    # inside a multi-paragraph chunk every paragraph but the first/last is whole
    pars = _paragraph_texts(corpus) | {norm(ln) for ln in DATA.read_text(encoding="utf-8").split("\n")}
    multi = 0
    for c in chunk_corpus(corpus, ChunkSettings(max_chars=400, overlap_sentences=1)):
        pieces = c.text.split("\n")
        multi += len(pieces) > 1
        for piece in pieces[1:-1]:
            assert norm(piece) in pars, c
    assert multi > 20


def test_ten_wan_matching_via_norm(chunks):
    spaced = [c for c in chunks if "10 万" in c.text]
    tight = [c for c in chunks if "10万" in c.text]
    assert spaced and tight
    both = [c for c in chunks if norm("10万") in norm(c.text)]
    assert set(x.id for x in spaced + tight) <= set(x.id for x in both)


def test_chunk_stats_shape():
    assert chunk_stats([])["count"] == 0
    c = Chunk("x", "p", "", "引言", "引言", 1, 1, "abc", "s")
    st = chunk_stats([c])
    assert (st["count"], st["min"], st["median"], st["p90"], st["max"]) == (1, 3, 3, 3, 3)


def test_plain_documents_chunk_too(tmp_path):
    md = tmp_path / "guide.md"
    md.write_text("# 第一部分\n\n第一部分的正文。\n\n## 小节\n\n小节正文。\n", encoding="utf-8")
    ch = chunk_corpus(load_corpus([md]), DEFAULT_SETTINGS)
    assert [(c.pilot, c.section, c.start_line) for c in ch] == [("第一部分", "引言", 1), ("第一部分", "小节", 7)]
    assert ch[0].text.startswith("# 第一部分") and "第一部分的正文。" in ch[0].text
