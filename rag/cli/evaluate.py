"""`pilotqa eval` (score the pipeline against a gold set, or a blind split: aggregates only) and `pilotqa fit`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rag.cli import backend
from rag.config import Config
from rag.evaluation.facts import is_fact_table

# Settings that need an index of their own; `eval --compare chunk_max_chars=150,300` builds one per value.
INDEX_SETTINGS = ("chunk_max_chars", "chunk_overlap_sentences", "embed_model")
# Settings fixed when the pipeline is loaded (a PilotQA per value, sharing the index when it is the same).
PIPELINE_SETTINGS = INDEX_SETTINGS + ("reranker",)
# The blind test splits `eval --blind` runs (those present): written from the brief, never read while tuning.
BLIND = ("test.jsonl", "dialog-test.jsonl", "test2.jsonl", "dialog-test2.jsonl", "places-test.jsonl",
         "english-test.jsonl", "facts-test.jsonl", "aggregate-test.jsonl", "dialog-aggregate-test.jsonl",
         "docs-test.jsonl")


def cmd_eval(args, config: Config) -> int:
    from rag import evaluation as E  # the evaluation loads only for this command

    if args.blind:
        golds = [Path(args.gold)] if args.gold else [config.root / "eval" / name for name in BLIND]
        golds = [g for g in golds if g.is_file() or args.gold]
    else:
        golds = [Path(args.gold) if args.gold else config.root / "eval" / "gold.jsonl"]
    if not golds:
        raise E.EvalError("no blind test split found (eval/test.jsonl, eval/dialog-test.jsonl)")
    base = {"mode": config.mode, "k": config.k, "answerer": args.answerer}
    variants = E.parse_compare(args.compare, base) if args.compare else [base]
    pipelines: dict[tuple, object] = {}

    def pipeline(settings: dict):
        """One PilotQA per index-level setting (chunk size, model); each such index is built if stale."""
        from rag.index.store import build_index, staleness  # the index loads only for a command that needs it
        from rag.pipeline import PilotQA  # the pipeline (index, model) loads only for a command that answers

        key = tuple((k, settings[k]) for k in PIPELINE_SETTINGS if k in settings)
        if key not in pipelines:
            cfg = config.with_overrides(**dict(key))
            index_key = [(k, v) for k, v in key if k in INDEX_SETTINGS]
            if index_key and config.with_overrides(**dict(index_key)) != config:
                slug = "-".join(f"{k}={v}" for k, v in index_key).replace("/", "_")
                cfg = cfg.with_overrides(index_name=f"{config.index_name}--{slug}")
                if staleness(cfg):
                    build_index(cfg, progress=not args.quiet)
            if cfg == config:
                pipelines[key] = backend.open_pipeline(config)  # the configured pipeline, opened like every other command's
            else:
                same_index = [p for p in pipelines.values() if p.config.index_path == cfg.index_path]
                same_model = [p for p in pipelines.values() if p.config.embed_model == cfg.embed_model]
                pipelines[key] = PilotQA(cfg, index=same_index[0].index if same_index else None,
                                         embedder=same_model[0].embedder if same_model else None)
        return pipelines[key]

    qa = pipeline(variants[0])
    aliases = dict(qa.index.aliases)

    def run(question: str, settings: dict, history=None) -> dict:
        pipeline(settings).retriever.clear_cache()  # latencies are those of a question asked the first time
        ans = pipeline(settings).ask(question, k=settings.get("k"), mode=settings.get("mode"),
                                     answerer=settings.get("answerer") or "extractive", history=history)
        return ans.to_dict()  # with the rows an aggregate answer is scored on

    meta = {"store": getattr(config, "store", "faiss"), "embed_model": config.embed_model,
            "judgment": _judgment_meta()}
    for gold_path in golds:
        if is_fact_table(gold_path):
            _eval_facts(args, config, gold_path, pipeline(variants[0]).index.facts)
            continue
        items, problems = E.load_gold(gold_path)
        for prob in problems:
            print(f"警告 / warning: {prob if not args.blind else prob.split(':')[0] + ': a malformed line'}",
                  file=sys.stderr)
        if args.limit:
            items = items[: args.limit]
        results = _compare(args, config, gold_path, items, run, variants, aliases, pipeline(variants[0]))
        name = args.name or (gold_path.stem if args.blind else "latest")
        if args.name and len(golds) > 1:
            name = f"{args.name}-{gold_path.stem}"
        paths = E.write_report(results, Path(config.reports_dir), name, blind=args.blind,
                               meta={**meta, "gold": gold_path.name})
        print(f"== {gold_path.name}" + ("（盲测：只显示汇总指标）" if args.blind else ""))
        print(E.format_summary(results))
        for r in results:  # a crash is a bug to fix: where it happened (never the question or message)
            for where in sorted({o.error_where or "?" for o in r.outcomes if o.error}):
                print(f"运行错误 / run error: {where}", file=sys.stderr)
        print("报告 / report: " + ", ".join(str(p) for p in paths.values()))
    return 0


def _compare(args, config: Config, gold_path: Path, items, run, variants, aliases, qa):
    """Score `items`; a gold file about other documents is scored on a knowledge base of its own (the pilots and
    those documents, added as uploads), every variant through that one pipeline."""
    from rag import evaluation as E  # the evaluation loads only for this command
    from rag.evaluation.documents import doc_sources, documents_knowledge_base  # likewise

    show = not args.quiet and not args.blind
    sources = doc_sources(items, gold_path)
    if not sources:
        return E.compare(items, run, variants, progress=show, aliases=aliases)
    from rag.pipeline import PilotQA  # the pipeline loads only for a command that answers

    with documents_knowledge_base(config, sources, progress=show) as cfg:
        doc_qa = PilotQA(cfg, embedder=qa.embedder)

        def run_docs(question: str, settings: dict, history=None) -> dict:
            doc_qa.retriever.clear_cache()
            return doc_qa.ask(question, k=settings.get("k"), mode=settings.get("mode"),
                              answerer=settings.get("answerer") or "extractive", history=history).to_dict()

        return E.compare(items, run_docs, variants, progress=show, aliases={**aliases, **dict(doc_qa.index.aliases)})


def _eval_facts(args, config: Config, gold_path: Path, facts: list) -> None:
    """The fact table against a gold table: precision and recall per measure (blind: no row is shown)."""
    from rag.evaluation.facts import format_score, load_table, score  # loaded only for a fact-table gold
    from rag.files import atomic_write  # written only when a report is

    s = score(facts, load_table(gold_path), blind=args.blind)
    name = args.name or (gold_path.stem if args.blind else "facts")
    out = Path(config.reports_dir) / f"{name}.json"
    atomic_write(out, json.dumps({"gold": gold_path.name, "blind": bool(args.blind), **s}, ensure_ascii=False,
                                 indent=1))
    print(f"== {gold_path.name}" + ("（盲测：只显示汇总指标）" if args.blind else "") + "：事实表精确率 / 召回率")
    print(format_score(s))
    print(f"报告 / report: {out}")


def _judgment_meta() -> str:
    """Which fitted judgment produced a report (its creation time), for the report header."""
    from rag.knowledge import lexicon  # read only for a report's header

    try:
        data = json.loads((lexicon.DATA / "judgment.json").read_text(encoding="utf-8"))
        return f"{data.get('command', '')} @ {data.get('created', '')}"
    except (OSError, ValueError):
        return "missing"


def cmd_fit(args, config: Config) -> int:
    from rag.evaluation.fitting import fit  # fitting loads only for `pilotqa fit`

    gold = args.gold or [str(p) for p in sorted((config.root / "eval").glob("gold*.jsonl"))]
    data = fit(backend.open_pipeline(config), gold, args.out, l2=args.l2,
               command="pilotqa fit" + (f" --gold {' '.join(args.gold)}" if args.gold else "")
               + (f" --l2 {args.l2}" if args.l2 != 1.0 else ""))
    dev = data["dev"]
    print(f"已拟合回答判断模型：{data['rows']} 个候选句（正例 {data['positives']}），拒答阈值 {data['threshold']:.4f}；"
          f"开发集最佳句：{dev['right']}/{dev['questions']} 题正确 → {args.out or 'rag/data/judgment.json'}")
    return 0

