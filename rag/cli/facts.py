"""`pilotqa facts`: the plans' figures as data, filtered, as a table, CSV or JSON (read from the index: no model)."""
from __future__ import annotations

import json
import sys

from rag.config import Config


def cmd_facts(args, config: Config) -> int:
    from rag.cli.checks import UsageError  # loaded only for the command that needs it
    from rag.cli.output import pad  # the terminal rendering loads only to print
    from rag.index.store import Index  # the index loads only for a command that needs it
    from rag.knowledge.names import resolve_pilot  # loaded only for the command that needs it
    from rag.retrieval.facts import filter_facts  # the table's filters load only with the index
    from rag.retrieval.forms import fact_dict, facts_csv  # the table's forms load only to print it

    index = Index.load(config.index_path, expect=config)
    pilot = None
    if args.pilot:
        try:
            pilot = resolve_pilot(args.pilot, index.aliases, index.gazetteer)
        except ValueError as exc:
            sugg = getattr(exc, "suggestions", None)
            raise UsageError(f"没有名为“{args.pilot}”的试点" + (f"，您是不是要找：{'、'.join(sugg)}" if sugg else "")
                             + f" / unknown pilot {args.pilot!r}") from None
    measures = list(dict.fromkeys(f.measure for f in index.facts))
    if args.measure and args.measure not in measures:
        raise UsageError(f"事实表中没有指标“{args.measure}”，可选：{'、'.join(measures)} / unknown measure")
    rows = filter_facts(index.facts, measure=args.measure, year=args.year, pilot=pilot, kind=args.kind)
    if args.json:
        print(json.dumps([fact_dict(f) for f in rows], ensure_ascii=False, indent=1))
    elif args.csv:
        sys.stdout.write(facts_csv(rows).lstrip("\ufeff"))
    else:
        for f in rows:
            when = ("基期" if f.kind == "base" else "目标") + str(f.year)
            print(f"{pad(f.pilot, 24)}{pad(f.measure, 18)}{pad(when, 10)}{pad(f.text, 16)}第 {f.line} 行"
                  f"{('  ' + f.note) if f.note else ''}")
        print(f"共 {len(rows)} 条。", file=sys.stderr)
    return 0
