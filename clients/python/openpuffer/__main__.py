"""python3 -m openpuffer [--server URL] [--api-key K] COMMAND ...: a few calls from the shell.

Commands: health, list, describe NAME, stats NAME, metrics, search NAME VECTOR_JSON [--top-k K]
[--nprobe P | --recall-target R] [--include-payload], recall NAME [--num-queries N].
Prints the server's answer as JSON; exits 1 with the error on stderr when a call fails.
"""

import argparse
import dataclasses
import json
import sys

from . import Client, OpenPufferError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m openpuffer")
    p.add_argument("--server", default=None, help="http://host:port (default PUFFER_SERVER or 127.0.0.1:8080)")
    p.add_argument("--api-key", default=None, help="default PUFFER_API_KEY")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("health")
    sub.add_parser("list")
    sub.add_parser("metrics")
    for name in ("describe", "stats"):
        sub.add_parser(name).add_argument("name")
    s = sub.add_parser("search")
    s.add_argument("name")
    s.add_argument("vector", help="a JSON array of numbers")
    s.add_argument("--top-k", type=int, default=10)
    s.add_argument("--nprobe", type=int)
    s.add_argument("--recall-target", type=float)
    s.add_argument("--include-payload", action="store_true")
    r = sub.add_parser("recall")
    r.add_argument("name")
    r.add_argument("--num-queries", type=int, default=25)
    args = p.parse_args(argv)
    c = Client(args.server, api_key=args.api_key)
    try:
        if args.command == "health":
            out = c.health()
        elif args.command == "list":
            out = c.list_collections()
        elif args.command == "metrics":
            sys.stdout.write(c.metrics())
            return 0
        elif args.command == "describe":
            out = c.describe(args.name)
        elif args.command == "stats":
            out = c.stats(args.name)
        elif args.command == "search":
            result = c.search(args.name, json.loads(args.vector), top_k=args.top_k, nprobe=args.nprobe,
                              recall_target=args.recall_target, include_payload=args.include_payload)
            out = {"results": [dataclasses.asdict(h) for h in result.hits], "stats": result.stats}
        else:
            out = c.recall(args.name, num_queries=args.num_queries)
    except OpenPufferError as e:
        print(f"openpuffer: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
