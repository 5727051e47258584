"""What the translator makes of a lambda file, and the colour it gives an output.

`python -m traffic_lights translate FILE` shows the rules a lambda file translates to;
`python -m traffic_lights colour FILE --stdout F --stderr F --status N` the colour it gives.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from traffic_lights.errors import Untranslatable
from traffic_lights.lambdas import lambda_key, translate, translate_document


def main(argv: list[str] | None = None) -> int:
    """What the translator makes of a lambda file, and the colour it gives an output."""
    parser = argparse.ArgumentParser(prog="python -m traffic_lights", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    shown = commands.add_parser("translate", help="print the colour rules of a lambda file")
    shown.add_argument("file", type=Path)
    judged = commands.add_parser("colour", help="print the colour a lambda file gives an output")
    judged.add_argument("file", type=Path)
    judged.add_argument("--stdout", type=Path, help="a file holding the stdout")
    judged.add_argument("--stderr", type=Path, help="a file holding the stderr")
    judged.add_argument("--status", type=int, default=0)
    args = parser.parse_args(argv)
    text = args.file.read_text()
    try:
        if args.command == "translate":
            print(json.dumps(translate_document(text), indent=2))
            print(
                f"an operator's rules for this lambda go under {lambda_key(text)}", file=sys.stderr
            )
            return 0
        rules = translate(text)
    except Untranslatable as error:
        print(f"faulty: {error}")
        return 1
    stdout = args.stdout.read_text(errors="replace") if args.stdout else ""
    stderr = args.stderr.read_text(errors="replace") if args.stderr else ""
    print(rules.colour(stdout, stderr, args.status))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
