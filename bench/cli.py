"""`pilotqa bench`: registered with the CLI through the `pilotqa.commands` entry point (pyproject.toml), so the
library never imports the benchmark."""
from __future__ import annotations


def register(sub, options) -> None:
    p = sub.add_parser("bench", help="measure build, load, latency and concurrency; write eval/reports/bench.*")
    options.index(p)
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--out", help="report folder (default eval/reports)")
    p.add_argument("--scale", metavar="1,10,100", help="also build synthetic corpora of these multiples of the "
                                                        "chunk count and time FAISS flat, FAISS HNSW and Milvus Lite")
    p.set_defaults(run=run)


def run(args, config) -> int:
    from bench.run import run_bench  # the benchmark's own modules load only when it runs

    scale = [int(x) for x in args.scale.split(",") if x.strip()] if args.scale else None
    return run_bench(config, quick=args.quick, out_dir=args.out, scale=scale)
