"""The pilots file: one block per pilot, opening with `<省><试点>国家新型城镇化综合试点 工作方案要点`, after a
Markdown-table table of contents (see data/README.md)."""
from __future__ import annotations

import re

from rag.corpus.model import Pilot
from rag.corpus.structure import PILOT_HEADING, SectionBuilder
from rag.knowledge.domain import level_of

PROVINCE = re.compile(
    r"^(北京市|天津市|上海市|重庆市|内蒙古自治区|广西壮族自治区|西藏自治区|宁夏回族自治区|新疆维吾尔自治区"
    r"|香港特别行政区|澳门特别行政区|[^\s省市区]{2,4}?省)"
)
TOC_ROW = re.compile(r"^\s*\|\s*(.+?)\s*试点工作方案要点[\s.．。…·]*\|\s*\d+\s*\|\s*$")


def parse_pilot_name(name: str) -> tuple[str, str, str]:
    """`北京市房山区` → (`北京市`, `房山区`, `区`); `湖南省津市市—澧县` → (`湖南省`, `津市市—澧县`, `市县`)."""
    m = PROVINCE.match(name)
    province = m.group(1) if m else ""
    place = name[len(province):] if province and len(name) > len(province) else name
    parts = [p for p in re.split(r"[—–]", place) if p]
    levels: list[str] = []
    for p in parts or [place]:
        lv = level_of(p)
        if lv not in levels:
            levels.append(lv)
    return province, place, "".join(levels)



def parse_toc(lines: list[str], upto: int) -> list[str]:
    out = []
    for ln in lines[:upto]:
        m = TOC_ROW.match(ln)
        if m:
            out.append(m.group(1).strip())
    return out


def parse_pilots_file(path: str, lines: list[str], heads: list[int], warnings: list[str]):
    toc = parse_toc(lines, heads[0] - 1)
    b = SectionBuilder(lines, markdown=False)
    pilots = []
    for n, h in enumerate(heads):
        stop = heads[n + 1] - 1 if n + 1 < len(heads) else len(lines)
        heading = lines[h - 1]
        name = PILOT_HEADING.match(heading).group(1).replace(" ", "")
        province, place, level = parse_pilot_name(name)
        intro, sections, last = b.build(h + 1, stop)
        if not intro and not sections:
            warnings.append(f"{path}:{h}: pilot {name} has no text")
        pilots.append(Pilot(name=name, province=province, place=place, level=level, heading=heading,
                            source=path, start_line=h, end_line=max(last, h), intro=intro, sections=sections))
    names = [p.name for p in pilots]
    if toc and toc != names:
        missing = [t for t in toc if t not in names]
        extra = [t for t in names if t not in toc]
        warnings.append(f"{path}: table of contents ({len(toc)}) and pilot headings ({len(names)}) disagree"
                        f"; in TOC only: {missing}; in headings only: {extra}")
    return pilots, toc, b.joins
