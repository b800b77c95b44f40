"""Corpus parsing on the real file (no mocks): what a user would notice if it were wrong."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rag.corpus import CorpusError, load_corpus, parse_pilot_name
from rag.text import norm

from conftest import CORPUS as DATA


@pytest.fixture(scope="module")
def lines():
    return DATA.read_text(encoding="utf-8").split("\n")


def test_59_pilots_in_toc_order(corpus):
    assert len(corpus.toc) == 59
    assert len(corpus.pilots) == 59
    assert [p.name for p in corpus.pilots] == corpus.toc
    assert corpus.toc[0] == "北京市房山区" and corpus.toc[-1] == "新疆维吾尔自治区北泉镇"
    assert corpus.warnings == []


def test_source_file_record(corpus):
    (src,) = corpus.sources
    assert src.path == str(DATA)
    assert src.kind == "pilots"
    assert src.sha256 == hashlib.sha256(DATA.read_bytes()).hexdigest()
    assert src.n_lines == len(corpus.lines(str(DATA))) == 3745  # last line has no trailing newline


def test_wrapped_shanghai_heading(corpus):
    p = corpus.pilot("上海市浦东新区（临港地区）")
    assert p is not None
    assert p.heading == "上海市浦东新区（临港地区）国家新型城镇化 综合试点工作方案要点"
    assert (p.province, p.place, p.level) == ("上海市", "浦东新区（临港地区）", "新区")
    assert p.start_line == 1095


@pytest.mark.parametrize("name,province,place,level", [
    ("北京市房山区", "北京市", "房山区", "区"),
    ("河北省威县", "河北省", "威县", "县"),
    ("内蒙古自治区准格尔旗", "内蒙古自治区", "准格尔旗", "旗"),
    ("天津市中北镇", "天津市", "中北镇", "镇"),
    ("江西省南昌高新区", "江西省", "南昌高新区", "高新区"),
    ("湖南省津市市—澧县", "湖南省", "津市市—澧县", "市县"),
    ("云南省红河州", "云南省", "红河州", "州"),
    ("广西壮族自治区全州县", "广西壮族自治区", "全州县", "县"),
    ("新疆维吾尔自治区榆树沟镇", "新疆维吾尔自治区", "榆树沟镇", "镇"),
    ("贵州省贵安新区", "贵州省", "贵安新区", "新区"),
])
def test_province_place_level(corpus, name, province, place, level):
    p = corpus.pilot(name)
    assert p is not None, name
    assert (p.province, p.place, p.level) == (province, place, level)
    assert parse_pilot_name(name) == (province, place, level)


def test_every_pilot_has_intro_and_three_parts(corpus):
    for p in corpus.pilots:
        assert p.intro, p.name
        assert [s.title[:2] for s in p.sections] == ["一、", "二、", "三、"], p.name


def test_fangshan_section_tree(corpus, lines):
    p = corpus.pilot("北京市房山区")
    assert (p.start_line, p.end_line) == (77, 139)
    assert [s.title for s in p.sections] == ["一、总体目标", "二、主要任务", "三、保障措施"]
    goal, tasks, safeguards = p.sections
    assert goal.children == [] and len(goal.paragraphs) == 4
    assert goal.paragraphs[1].text.startswith("——形成以政府为引导")
    assert [c.title for c in tasks.children] == [
        "（一）加快植入创新基因，推动产业高端化绿色化转型",
        "（二）以棚户区改造和大项目建设为重点，推进农民就地城镇化，同步完善农业转移人口市民化成本分担机制",
        "（三）加强引导推广，全面推进绿色智慧城镇建设",
        "（四）建立多元化投融资机制",
        "（五）充分发挥社会资本的活力和创造力",
        "（六）推进低效用地再开发利用，提高土地资源配置效益",
        "（七）强化部门协调合作，探索实施城乡“多规融合”制度",
        "（八）创新社会治理模式，建立以人为本的服务管理体系",
        "（九）创新生态保护建设制度，全面提升生态服务功能",
    ]
    assert [c.start_line for c in tasks.children] == list(range(95, 130, 4))
    for c in tasks.children:  # heading line really is that heading; its text follows two lines later
        assert lines[c.start_line - 1].strip() == c.title
        assert c.level == 2 and [q.start_line for q in c.paragraphs] == [c.start_line + 2]
    # 三、保障措施: four inline headings; the paragraph keeps the full original line
    assert [c.title for c in safeguards.children] == ["（一）加强组织领导", "（二）细化任务分解", "（三）强化项目管理", "（四）完善考核评价"]
    first = safeguards.children[0]
    assert first.start_line == 133 and first.paragraphs[0].text == lines[132].strip()
    assert first.paragraphs[0].text.startswith("（一）加强组织领导。成立以区长")


def test_level3_items_and_iter_sections(corpus):
    p = corpus.pilot("天津市东丽区")
    paths = [" > ".join(path) for path, _ in p.iter_sections()]
    assert "二、主要任务 > （一）探索新型城镇化之路 > 1.引领产业高端发展" in paths
    sec = dict((" > ".join(path), s) for path, s in p.iter_sections())["二、主要任务 > （一）探索新型城镇化之路"]
    assert [c.level for c in sec.children] == [3] * len(sec.children) and len(sec.children) == 5
    # `一是…` items (邹城市) and Markdown-style `- 1.` items (梨树县) are level 3 too
    assert any(s.level == 3 and s.title.startswith("一是") for _, s in corpus.pilot("山东省邹城市").iter_sections())
    lishu = [s for _, s in corpus.pilot("吉林省梨树县").iter_sections() if s.start_line == 781]
    assert lishu and lishu[0].level == 3 and lishu[0].paragraphs[0].text.startswith("- 1.优化行政区划设置")


def test_page_break_join_fangshan(corpus, lines):
    p = corpus.pilot("北京市房山区")
    hits = [q for q in p.paragraphs() if "新型农村社区" in norm(q.text)]
    assert len(hits) == 1
    (q,) = hits
    assert (q.start_line, q.end_line) == (87, 89)
    assert lines[86].endswith("新型农") and lines[87] == "" and lines[88].startswith("村社区”体系")
    assert "“新城—小城镇—新型农村社区”体系" in q.text  # joined without newline, original characters


def test_page_break_joins_count_and_no_heading_swallowed(corpus, lines):
    # every repaired paragraph: first line does not end a sentence, the next one is not a heading
    assert corpus.n_page_joins == 72
    joined = [q for p in corpus.pilots for q in p.paragraphs() if q.end_line > q.start_line]
    assert len(joined) == 72
    for q in joined:
        tail = lines[q.end_line - 1].strip()
        assert not tail.startswith(("（", "(", "一、", "二、", "三、", "——")), q
        assert "国家新型城镇化" not in tail or "工作方案要点" not in tail
    # the bare numbered item broken by the page (宁东镇 line 3621 "… and 转型" / "升级，…")
    ningdong = [q for q in corpus.pilot("宁夏回族自治区宁东镇").paragraphs() if q.start_line == 3621]
    assert ningdong and ningdong[0].end_line == 3623 and "转型升级" in ningdong[0].text


def test_every_body_line_belongs_to_one_paragraph_or_heading(corpus, lines):
    covered: dict[int, int] = {}
    for p in corpus.pilots:
        covered[p.start_line] = covered.get(p.start_line, 0) + 1
        for q in p.paragraphs():
            for ln in range(q.start_line, q.end_line + 1):
                if lines[ln - 1].strip():
                    covered[ln] = covered.get(ln, 0) + 1
        for _, s in p.iter_sections():
            if not s.paragraphs or s.paragraphs[0].start_line != s.start_line:
                covered[s.start_line] = covered.get(s.start_line, 0) + 1
    first = corpus.pilots[0].start_line
    body = [i for i in range(first, len(lines) + 1) if lines[i - 1].strip()]
    assert [i for i in body if i not in covered] == []
    assert [i for i, n in covered.items() if n > 1] == []


def test_spaces_do_not_block_matching(corpus):
    # "10 万" in the file with a stray space, "10万" without: norm() finds both forms either way
    texts = [q.text for p in corpus.pilots for q in p.paragraphs()]
    spaced = [t for t in texts if "10 万" in t]
    tight = [t for t in texts if "10万" in t]
    assert spaced and tight
    assert all(norm("10万") in norm(t) for t in spaced)
    assert all(norm("10 万") in norm(t) for t in tight)
    fangshan = norm(corpus.pilot("北京市房山区").intro[0].text)
    assert norm("全区土地总面积1990平方公里") in fangshan  # file: "1990 平方公里"


def test_multiple_files_and_directory(tmp_path, corpus):
    batch = tmp_path / "batch3.txt"
    batch.write_text("\n".join([
        "浙江省测试镇国家新型城镇化综合试点 工作方案要点", "",
        "测试镇位于浙江省。", "", "一、总体目标", "", "到 2020 年，城镇化率达到 60%。", "",
        "二、主要任务", "", "（一）加强组织领导。成立领导小组，负责协调推进。", "",
    ]), encoding="utf-8")
    c = load_corpus([DATA, batch])
    assert len(c.pilots) == 60 and c.pilots[-1].name == "浙江省测试镇"
    assert [s.kind for s in c.sources] == ["pilots", "pilots"]
    assert c.toc == corpus.toc
    t = c.pilots[-1]
    assert t.level == "镇" and t.source == str(batch)
    assert t.sections[1].children[0].title == "（一）加强组织领导"
    assert c.lines(str(batch))[2] == "测试镇位于浙江省。"
    # a directory: *.txt and *.md inside, sorted; other files ignored
    (tmp_path / "notes.md").write_text("# 说明\n\n这是一个说明文件。\n", encoding="utf-8")
    (tmp_path / "ignore.csv").write_text("a,b\n", encoding="utf-8")
    d = load_corpus([tmp_path])
    assert [Path(s.path).name for s in d.sources] == ["batch3.txt", "notes.md"]
    assert [p.name for p in d.pilots] == ["浙江省测试镇", "说明"]


def test_plain_markdown_file_becomes_documents(tmp_path):
    md = tmp_path / "guide.md"
    md.write_text("前言一段话。\n\n# 第一部分\n\n第一部分的正文，\n第二行。\n\n## 小节\n\n小节正文。\n\n"
                  "# 第二部分\n\n一、要点\n\n要点正文。\n", encoding="utf-8")
    c = load_corpus([md])
    assert c.sources[0].kind == "plain"
    assert [p.name for p in c.pilots] == ["guide", "第一部分", "第二部分"]
    assert all(p.level == "文档" for p in c.pilots)
    assert len(c.warnings) == 1 and "guide.md" in c.warnings[0] and "plain" in c.warnings[0]
    part1 = c.pilots[1]
    assert part1.intro[0].text == "第一部分的正文，\n第二行。" and (part1.intro[0].start_line, part1.intro[0].end_line) == (5, 6)
    assert part1.sections[0].title == "小节" and part1.sections[0].paragraphs[0].start_line == 10
    assert c.pilots[2].sections[0].title == "一、要点"


def test_plain_file_without_headings_is_one_document(tmp_path):
    f = tmp_path / "memo.txt"
    f.write_text("随便一段文字。\n\n又一段。\n", encoding="utf-8")
    c = load_corpus([f])
    assert [p.name for p in c.pilots] == ["memo"]
    assert [q.text for q in c.pilots[0].intro] == ["随便一段文字。", "又一段。"]
    assert c.warnings


def test_duplicate_pilot_names_kept_with_warning(tmp_path):
    copy = tmp_path / "copy.txt"
    copy.write_bytes(DATA.read_bytes())
    c = load_corpus([DATA, copy])
    assert len(c.pilots) == 118
    assert any("duplicate" in w and "北京市房山区" in w for w in c.warnings)
    assert c.pilot("北京市房山区").source == str(DATA)


def test_missing_and_empty_paths_raise(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(CorpusError, match="nope.txt"):
        load_corpus([missing])
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="empty.txt"):
        load_corpus([DATA, empty])
    (tmp_path / "sub").mkdir()
    with pytest.raises(CorpusError, match="sub"):
        load_corpus([tmp_path / "sub"])
    with pytest.raises(CorpusError):
        load_corpus([])
