"""Where the CLI's questions go: a running server (`--server`, `PILOTQA_SERVER`) or a `PilotQA` loaded here."""
from __future__ import annotations

import json
import sys

from rag.config import Config


def open_pipeline(config: Config):
    from rag.pipeline import PilotQA  # the pipeline (index, model) loads only for a command that answers

    return PilotQA(config)


def backend(config: Config):
    """Where questions go: the server when one is set (said on stderr), else a PilotQA loaded here."""
    from rag.serve.client import DEFAULT_TIMEOUT, Local, Remote  # the HTTP client loads only for a command that asks

    if config.server:
        remote = Remote(config.server, config.api_token, timeout=max(DEFAULT_TIMEOUT, config.llm_timeout + 30))
        print(f"使用服务器 {remote.url} / using the server at {remote.url}", file=sys.stderr)
        if remote.token_in_clear:
            print("警告 / warning: 令牌经未加密的 http 发送，请用 https / the token is sent over plain http; use https",
                  file=sys.stderr)
        return remote
    return Local(open_pipeline(config))


def cmd_search(args, config: Config) -> int:
    from rag.cli.output import print_search  # the terminal rendering loads only to print

    result = backend(config).search(args.question, k=args.k, mode=args.mode, pilot=args.pilot, doc=args.doc)
    return show(result.get("passages") or [] if args.json else result, args.json, print_search)


def show(data, as_json: bool, render) -> int:
    """`--json`: the JSON form on stdout; otherwise the terminal rendering."""
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
    else:
        render(data)
    return 0




def print_answer(ans, out=None) -> None:
    """An `Answer` (or its `to_dict()`) as the CLI shows it."""
    from rag.cli.output import print_answer as render  # the terminal rendering loads only to print

    render(ans if isinstance(ans, dict) else ans.to_dict(), out)
