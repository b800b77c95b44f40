"""Evaluation against gold sets, independent of how the pipeline is built.

- `gold`     the gold file format (eval/SCHEMA.md) and its loader
- `scoring`  one record against its gold item; metrics over many
- `running`  every question through a `run` callable; variants compared
- `reports`  the terminal table and the json/md/png reports (blind: aggregates only)
"""
from rag.evaluation.gold import ANSWERABLE_TYPES, REFUSAL_TYPES, SINGLE_TYPES, TYPES, EvalError, GoldItem, load_gold
from rag.evaluation.reports import HEADLINE, failure_dict, format_summary, write_report
from rag.evaluation.running import EvalResult, compare, evaluate, parse_compare, settings_label
from rag.evaluation.scoring import (
    CROSS_PASSAGE_LIMIT,
    MRR_LIMIT,
    STAGES,
    QuestionOutcome,
    aggregate,
    compute_metrics,
    named_pilots,
    percentile,
    score_question,
)

__all__ = [
    "EvalError", "GoldItem", "QuestionOutcome", "EvalResult", "load_gold", "score_question", "aggregate",
    "compute_metrics", "percentile", "named_pilots", "evaluate", "compare", "parse_compare",
    "format_summary", "write_report", "failure_dict", "settings_label", "TYPES", "HEADLINE", "SINGLE_TYPES",
    "ANSWERABLE_TYPES", "REFUSAL_TYPES", "STAGES", "CROSS_PASSAGE_LIMIT", "MRR_LIMIT",
]
