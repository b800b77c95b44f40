"""Where a question points: the spans that name a pilot, its parent place or a province, a pilot described
instead of named (<某名人>出生地那个城市…), places no document covers, and the subject's extent in the question.
Split from `rag.question`, whose `QuestionAnalyzer` takes these methods (`PlaceResolver`); the gazetteer tables
they read are the analyzer's."""
from __future__ import annotations

import re

from rag.knowledge import lexicon
from rag.knowledge.domain import SUFFIX_CHARS, SUFFIX_TOKENS
from rag.knowledge.gazetteer import stem
from rag.query.info import PlaceRef, QuestionDraft, QuestionInfo
from rag.query.patterns import QUOTED, REFERENCE
from rag.query.terms import is_word, measure_patterns, segments
from rag.text import jieba_pos_tokenizer, jieba_tokenizer, norm

_FLAT = re.compile(r"[^\w]")

_LEVEL_HINT = re.compile(r"[县地]级(市)|(镇|县|市|区|旗|州)级|[那这]个(镇|县|市|区|旗|州|新区)|该(镇|县|市|区|旗|州)")
_THE_PILOT = re.compile(r"试点|[那这]个|[那这]里|当地|该")
# "<某地>所在的那个<镇>": the words around a place describe a pilot rather than name the subject
_DESCRIBING = re.compile(r"(?:所在|附近|旁边|边上|挨着|靠近|毗邻|隶属)的?(?:那个|这个)?|(?:那个|这个)[\u4e00-\u9fff]{0,3}(?:镇|县|市|区|州|旗)")
# a town named right after its parent place ("<市><区>的<镇>"): the town is the subject
_TOWN_AFTER = re.compile(r"(?:[\u4e00-\u9fff]{0,3}?的)?([\u4e00-\u9fff]{2,4}?(?:镇|乡|街道))")
# a which-pilots question that names a place as what the plans mention, not as its subject
_TERM_FRAME = re.compile(r"提到|提及|提出|涉及|写了|写到|出现|对接|服务|融入")
# "<试点甲>和<试点乙>这两个<类别>": an appositive that describes the named pilots, not what is asked
_APPOSITIVE = re.compile(r"(?:这|那)?[两二三四五几]个[\u4e00-\u9fff]{0,8}?(?:自治县|自治州|新区|试点|城市|地方|县|市|区|镇|旗|州)")


class PlaceResolver:
    """The place-resolution half of `rag.question.QuestionAnalyzer`."""

    def _scan(self, q: str) -> list[PlaceRef]:
        """Leftmost-longest spans naming a pilot, a pilot's parent place or a province. A short form (three
        characters or fewer) counts only where it does not sit inside a longer word: 海口 in 入海口 and 山东 in
        祁连山东段 are no places."""
        out: list[PlaceRef] = []
        cuts = {0}
        for w in jieba_tokenizer().lcut(q):
            cuts.add(max(cuts) + len(w))
        i, n = 0, len(q)
        while i < n:
            for L in self.lengths:
                if i + L > n:
                    continue
                s = q[i:i + L]
                if L <= 3 and (i not in cuts or (i + L not in cuts and not self._suffix_follows(q, i + L))) \
                        and (s in self.parent_table or s in self.province_table or s in self.pilot_table
                             or s in self.place_table):
                    continue
                if s in self.pilot_table:
                    nxt = q[i + L] if i + L < n else ""
                    if nxt in SUFFIX_CHARS and s[-1] not in SUFFIX_CHARS and not is_word(q[i + L:i + L + 2]):
                        out.append(PlaceRef(s + nxt, i, i + L + 1, "unknown"))  # 永安镇: another place
                        i += L + 1
                    else:
                        out.append(PlaceRef(s, i, i + L, "pilot", tuple(self.pilot_table[s])))
                        i += L
                    break
                if s in self.parent_table:
                    out.append(PlaceRef(s, i, i + L, "parent", tuple(self.parent_table[s])))
                    i += L
                    break
                if s in self.province_table:
                    if s.endswith("省") and q[i + L:i + L + 1] == "会":
                        continue  # "四川省会": the province is 四川, 省会 is a word of its own
                    out.append(PlaceRef(s, i, i + L, "province", (self.province_table[s],)))
                    i += L
                    break
                if s in self.place_table:
                    # a real place that is no pilot (长治, 永康市, 首尔); one that lies in a pilot names that pilot
                    entries = self.place_table[s]
                    owners = tuple(dict.fromkeys(e[2] for e in entries if e[2]))
                    provs = {e[1] for e in entries}
                    out.append(PlaceRef(s, i, i + L, "place", owners if len(entries) == 1 else (),
                                        next(iter(provs)) if len(provs) == 1 else ""))
                    i += L
                    break
            else:
                i += 1
        return out

    @staticmethod
    def _suffix_follows(q: str, k: int) -> bool:
        """A place suffix or a particle follows a short form (房山区, 保定的): jieba may glue them to the name."""
        return k < len(q) and q[k] in "市县区镇省州旗乡的之和与、，,"

    def _unknown_places(self, masked: str) -> list[str]:
        """Place names jieba finds that no gazetteer entry covers (`深圳市`, `雄安新区`, `苏州`)."""
        not_places = lexicon.words("not_places.txt")
        known = set(self.pilot_table) | set(self.parent_table) | set(self.province_table)
        toks = [(p.word, p.flag) for p in jieba_pos_tokenizer().lcut(masked)]
        han = re.compile(r"^[\u4e00-\u9fff]+$")
        found: list[str] = []
        for j, (w, f) in enumerate(toks):
            if not han.match(w) or w in known:
                continue
            if w in SUFFIX_TOKENS and j > 0:
                # `雄安` + `新区`: join up to two preceding content tokens
                parts: list[str] = []
                for k in (j - 1, j - 2):
                    if k < 0:
                        break
                    pw, pf = toks[k]
                    if not han.match(pw) or pf[:1] in ("u", "p", "c", "r", "v", "m", "q", "y", "d", "f") or pw in known:
                        break
                    parts.insert(0, pw)
                    if pf.startswith("ns"):
                        break
                name = "".join(parts) + w
                if parts and 3 <= len(name) <= 8 and name not in not_places and "".join(parts) not in not_places \
                        and any(pf.startswith("ns") for pw, pf in toks[max(0, j - 2):j] if pw in parts):
                    found.append(name)
                continue
            if not f.startswith("ns") or w in not_places or stem(w) in not_places:
                continue
            nxt = toks[j + 1][0] if j + 1 < len(toks) else ""
            if nxt in SUFFIX_TOKENS:
                continue  # handled when the suffix token is reached
            if len(w) >= 2:
                found.append(w)
        return [x for x in dict.fromkeys(found) if not any(x != y and x in y for y in found)]

    def _after_province(self, qi: QuestionDraft) -> list[str]:
        """The noun right after a province name ("浙江义乌", "湖北仙桃"): jieba does not always tag a county-level
        city as a place, but a noun named right after its province is one."""
        out = []
        for s in qi.places:
            if s.kind != "province":
                continue
            toks = jieba_pos_tokenizer().lcut(qi.key[s.end:s.end + 8])
            if toks and toks[0].flag[:1] == "n" and 2 <= len(toks[0].word) <= 4 \
                    and re.match(r"^[\u4e00-\u9fff]+$", toks[0].word) \
                    and toks[0].word not in lexicon.words("question_words.txt") | lexicon.words("count_frame.txt") \
                    and toks[0].word not in lexicon.words("not_places.txt"):
                out.append(toks[0].word)
        return out

    def _resolve(self, qi: QuestionDraft, explicit: str | None) -> None:
        if explicit:
            qi.pilots, qi.scope, qi.resolved_by = [explicit], [explicit], "explicit"
            return
        spans = qi.places
        named = [s for s in spans if s.kind == "pilot"]
        pilots: list[str] = []
        for s in named:
            if len(s.pilots) == 1 and s.pilots[0] not in pilots:
                pilots.append(s.pilots[0])
        provs = list(dict.fromkeys(s.pilots[0] for s in spans if s.kind == "province"))
        for s in named:  # an alias shared by several pilots: keep those the province names, else all
            if len(s.pilots) > 1:
                cand = [p for p in s.pilots if not provs or any(p in self.by_province.get(pr, []) for pr in provs)]
                pilots.extend(p for p in (cand or s.pilots) if p not in pilots)
        parents = [s for s in spans if s.kind == "parent"]
        # real places that are no pilot (the gazetteer's county-level-and-above table, places abroad)
        elsewhere = [s for s in spans if s.kind == "place" and not s.pilots]
        inside = [s for s in spans if s.kind == "place" and s.pilots]
        unknown = [s.text for s in spans if s.kind == "unknown"] + [s.text for s in elsewhere]
        as_term = qi.shape == "cross" and _TERM_FRAME.search(qi.key)  # "哪些试点提到兰州": a term, no subject
        if pilots:
            qi.pilots, qi.scope, qi.resolved_by = pilots, list(pilots), "name"
            if unknown and qi.shape != "cross":
                qi.unknown_place = unknown[0]  # `永安镇` next to a pilot name: still another place
                qi.unknown_province = next((s.province for s in elsewhere if s.text == unknown[0]), "") or None
                qi.province_pilots = list(self.by_province.get(qi.unknown_province or "", []))
            return
        described = (REFERENCE.search(qi.key) or _DESCRIBING.search(qi.key)) \
            and any(norm(s.text) in t for s in elsewhere for t in self.pilot_texts.values())
        if elsewhere and not as_term and not described:
            # ("<某山>南麓那个县级市" describes a pilot by a place its plan names: the description decides, below)
            qi.unknown_place, qi.unknown_province = elsewhere[0].text, elsewhere[0].province or None
            qi.province_pilots = list(self.by_province.get(elsewhere[0].province, []))
            return
        if inside and not as_term:
            # a county of a prefecture-level pilot (台前县 in 濮阳市): that pilot's document, about that county
            scope = list(dict.fromkeys(p for s in inside for p in s.pilots))
            qi.pilots, qi.scope, qi.resolved_by, qi.require = list(scope), list(scope), "parent", inside[0].text
            return
        if parents and not as_term:
            after = [m.group(1) for s in parents for m in [_TOWN_AFTER.match(qi.key, s.end)] if m]
            towns = [u for u in after + self._unknown_places(qi.unplaced) if re.search(r"(?:镇|乡|街道|新区)$", u)
                     and not re.search(r"那|这|该|个|试点", u)
                     and not any(norm(u) in t for t in self.pilot_texts.values())]
            if towns:  # "<市><区>的<镇>": a town of the parent city that is no pilot
                qi.unknown_place = towns[0]
                return
        talks_of_pilot = bool(_THE_PILOT.search(qi.key) or REFERENCE.search(qi.key)) or \
            qi.shape in ("cross", "count", "overview")
        if parents:
            scope = list(dict.fromkeys(p for s in parents for p in s.pilots))
            if qi.shape in ("cross", "count") or talks_of_pilot:
                qi.scope, qi.resolved_by = scope, "parent"
                if len(scope) == 1 and qi.shape not in ("cross", "count"):
                    qi.pilots = list(scope)
                return
            # "白城市的领导小组…" asked of its pilot's document: answered only by a sentence that names the city
            # itself; "赤峰市的城镇化率" (the city, which no document covers) is then refused
            qi.pilots, qi.scope, qi.resolved_by = list(scope), list(scope), "parent"
            qi.require = parents[0].text
            return
        if provs:
            # "浙江义乌…": a place inside the province that no document covers is what is asked about
            other = [u for u in self._unknown_places(qi.unplaced) + self._after_province(qi)
                     if not self.mentions.get(norm(u)) and not any(norm(u) in t for t in self.pilot_texts.values())]
            if other and qi.shape not in ("cross", "count"):
                qi.unknown_place = other[0]
                return
            scope = [p for pr in provs for p in self.by_province.get(pr, [])]
            if not scope:
                qi.unknown_place = next(s.text for s in spans if s.kind == "province")
                return
            if qi.shape in ("single", "overview") and len(scope) > 1:
                # "陕西唯一的计划单列市…": a description picks one of the province's pilots
                described, by = self._described(qi, among=scope)
                if described:
                    qi.pilots, qi.scope, qi.described_by, qi.resolved_by = [described], [described], by, "province"
                    return
            m = _LEVEL_HINT.search(qi.key)
            if m:  # "<省>那个镇级…": the province's pilots of that level
                level = next(g for g in m.groups() if g)
                scope = [p for p in scope if self.pilot_info.get(p, {}).get("level", "").endswith(level)
                         or p.endswith(level)] or scope
            qi.scope, qi.resolved_by = scope, "province"
            if len(scope) == 1 and qi.shape not in ("cross", "count"):
                qi.pilots = list(scope)
            return
        if qi.shape in ("cross", "count"):
            m = (re.search(r"(?:哪些|哪几个|几个|多少个|哪个)(县|镇|市|区|旗|州)(?!级)", qi.key)
                 or re.search(r"(县|镇|市|区|旗|州)一?级", qi.key))
            if m:  # `哪些县…` / `镇一级的有几个`: the pilots of that level
                qi.scope = [p for p in self.aliases if self.pilot_info.get(p, {}).get("level", "").endswith(m.group(1))]
            return
        jieba_unknown = [u for u in self._unknown_places(qi.unplaced) if u not in unknown]
        for u in [*unknown, *jieba_unknown]:
            docs = self.mentions.get(norm(u))
            if docs:  # a place only a plain document covers
                qi.scope, qi.resolved_by = list(docs), "document"
                if len(docs) == 1:
                    qi.pilots = list(docs)
                return
            where = {p: t.count(norm(u)) for p, t in self.pilot_texts.items() if norm(u) in t}
            if len(where) == 1 and next(iter(where.values())) >= 2:
                # `白城市` named repeatedly in one pilot's text only: that pilot (a loose reference)
                qi.pilots = qi.scope = list(where)
                qi.resolved_by = "description"
                return
            if not where:
                qi.unknown_place = u
                return
        described, by = self._described(qi)
        if described:
            qi.pilots, qi.scope, qi.resolved_by, qi.described_by = [described], [described], "description", by

    def _described(self, qi: QuestionDraft, among: list[str] | None = None,
                   force: bool = False) -> tuple[str | None, list[str]]:
        """A pilot described instead of named ("<名人>出生地那个…", "有“<别称>”之称的县", "<方位>门户那个区"):
        runs of the question's words that only one pilot's text contains (compared without punctuation, longest
        first), and more of them for that pilot than for any other."""
        if (qi.shape not in ("single", "overview") and not force) or not self.flat_texts \
                or not qi.describe:
            return None, []
        texts = {p: t for p, t in self.flat_texts.items() if among is None or p in among}
        votes: dict[str, int] = {}
        used: dict[str, list[str]] = {}
        # "<描述>那个区，<指标>…": only the words before the reference describe the pilot
        ref = [m.end() for m in REFERENCE.finditer(qi.unplaced)]
        region = qi.unplaced[:ref[0]] if ref else qi.unplaced
        # what is asked (years, figures, a measure such as 户籍人口城镇化率) describes no pilot
        region = re.sub(r"\d+(?:\.\d+)?[年%％]?", "|", region)
        # a measure is cut from its qualifier or modifier on ("<省会>常住人口": 常住 starts the measure, the words
        # before it still describe); without one, from up to six characters before its head
        _, from_mark, before_head = measure_patterns()
        for seg in [norm(t) for t in QUOTED.findall(qi.text)] + segments(region):
            seg = _FLAT.sub("", seg)
            if not ref:
                seg = before_head.sub("", from_mark.sub("|", seg))
            covered: dict[str, set[int]] = {}
            grams: dict[str, list[str]] = {}
            for n in range(min(10, len(seg)), 1, -1):
                for i in range(len(seg) - n + 1):
                    gram = seg[i:i + n]
                    if not re.search(r"[\u4e00-\u9fff]", gram):
                        continue
                    where = [p for p, t in texts.items() if gram in t]
                    if len(where) == 1 and (among is None or len(gram) >= 4
                                            or sum(gram in t for t in self.flat_texts.values()) <= 3):
                        # within a province, a short word must also be rare in all plans (总体 is in most)
                        got = covered.setdefault(where[0], set())
                        if not set(range(i, i + n)) <= got:
                            got.update(range(i, i + n))
                            grams.setdefault(where[0], []).append(gram)
            # a pilot's vote: how many of the question's characters its own words cover
            for p, got in covered.items():
                votes[p] = votes.get(p, 0) + len(got)
                used.setdefault(p, []).extend(grams[p])
        if not votes:
            return None, []
        best = max(votes, key=votes.get)
        # a lone two-character word in one plan is weak evidence; ask for a longer or a second one
        if votes[best] < (2 if among else 3) or list(votes.values()).count(votes[best]) > 1:
            return None, []
        return best, used[best]

    def subject_end(self, qi: QuestionInfo | QuestionDraft) -> int:
        """Where the question's subject (the pilot and the words describing it) ends: the end of the last pilot
        name or reference ("那个县", "的县级市") before the ask begins — when an ask of two or more characters
        follows. 0 when there is no such subject."""
        if not (qi.pilots or qi.scope):
            return 0
        ends = [s.end for s in qi.places if s.kind in ("pilot", "parent", "province")]
        ends += [m.end() for m in REFERENCE.finditer(qi.key)]
        first_clause = re.search(r"[，,：:]", qi.key)
        limit = first_clause.start() if first_clause else len(qi.key)
        cands = [e for e in ends if e <= limit] or [e for e in ends if e <= len(qi.key) // 2]
        if not cands:
            return 0
        end = max(cands)
        rest = re.sub(r"[，,。？?！!的\s]", "", qi.key[end:])
        return end if len(rest) >= 2 else 0

    def _content_mask(self, qi: QuestionDraft) -> str:
        """The question with its subject's names blanked: pilot names, provinces, and parent places next to a
        pilot name (<上级><试点>) or used as the scope. A parent named elsewhere (<试点>距离<上级>多远) or one
        the answer must name (`require`) stays: it is content."""
        masked = list(qi.key)
        pilot_spans = [s for s in qi.places if s.kind == "pilot"]
        # (an English question's Chinese rendering keeps the English word order: no subject-first reading)
        end = 0 if qi.require or qi.lang != "zh" else self.subject_end(qi)
        for k in range(end):  # "<描述>的<试点>，…": the description is not the ask
            masked[k] = "，"
        if end:
            qi.ask = qi.key[end:].lstrip("，,的")
        for m in _APPOSITIVE.finditer(qi.key) if len(qi.pilots) > 1 else ():
            for k in range(m.start(), m.end()):
                masked[k] = "，"
        intro = _FLAT.sub("", norm((self.pilot_info.get(qi.pilots[0]) or {}).get("intro", ""))) if qi.pilots else ""
        for t in qi.described_by:  # the intro's words that identified a described pilot are not the ask
            if intro and t not in intro:
                continue
            for m in re.finditer(re.escape(t), qi.key):
                for k in range(m.start(), m.end()):
                    masked[k] = "，"
        for s in qi.places:
            blank = s.kind in ("pilot", "province")
            if s.kind == "parent" and qi.require != s.text:
                near = any(0 <= p.start - s.end <= 1 or 0 <= s.start - p.end <= 1 for p in pilot_spans)
                blank = near or not pilot_spans
            if blank:
                for k in range(s.start, min(s.end, len(masked))):
                    masked[k] = "，"
        return "".join(masked)
