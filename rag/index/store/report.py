"""The lines `pilotqa build` prints about the store: sentences, cache repairs, index type, Milvus writes."""
from __future__ import annotations


def describe_build(report) -> list[str]:
    lines = [f"候选句 {report.sentences} 个（新嵌入 {report.sentences_embedded}）"]
    if getattr(report, "facts", 0):
        lines.append(f"事实表 {report.facts} 行（提取 {report.facts_seconds:.2f} 秒）")
    if report.repaired:
        lines.append(f"嵌入缓存校验：{report.repaired} 个缓存向量与其内容哈希不符，已重新嵌入"
                     f"（repaired {report.repaired}）")
    st = report.store or {}
    dense = st.get("dense") or {}
    if st.get("backend") == "milvus":
        sync = st.get("sync") or {}
        parts = [f"{name} 写入 {s.get('upserted', 0)}、删除 {s.get('deleted', 0)}、未变 {s.get('unchanged', 0)}"
                 for name, s in sync.items()]
        lines.append(f"存储 milvus（{st.get('uri')}，{dense.get('type', '?')}）：" + "；".join(parts))
    elif st:
        lines.append(f"存储 {st.get('backend')}：{dense.get('type', '?')}（{dense.get('why', '')}）")
    return lines
