"""The `keras-nas` command line.

Subcommands (one function per subcommand, registered in `build_parser`):

- `keras-nas profile model.tflite [--target cortex-m4] [--runs N] [--warmup N] [--json]`

Run as `keras-nas ...` (console script) or `python -m keras_nas.cli ...`.
"""

from __future__ import annotations

import argparse
import json
import sys


def _targets_help() -> str:
    from keras_nas.tflite.targets import TARGETS

    return ", ".join(sorted(TARGETS))


def cmd_profile(args: argparse.Namespace) -> int:
    """`keras-nas profile`: print the `Profile` of a .tflite file (table or JSON)."""
    from keras_nas.tflite.errors import InvalidModelError
    from keras_nas.tflite.profile import profile

    try:
        result = profile(args.model, target=args.target, runs=args.runs, warmup=args.warmup)
    except (InvalidModelError, ValueError) as e:
        print(f"keras-nas profile: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.format(per_op=not args.no_per_op))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with one subparser per subcommand."""
    parser = argparse.ArgumentParser(
        prog="keras-nas",
        description=(
            "Hardware-aware NAS for Keras 3: search architectures under flash/RAM/latency "
            "limits, export the winner, report a search, profile .tflite models on LiteRT "
            "and TFLite Micro targets."
        ),
    )
    from keras_nas import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "profile",
        help="flash, TFLite Micro arena, MACs, ops and latency of a .tflite model",
        description=(
            "Profile a .tflite model: flash size, TFLite Micro peak arena, MACs/FLOPs, "
            "parameters, ops (and TFLite Micro support), and latency measured on LiteRT "
            "(host/mobile targets) or estimated with the target's cost model (MCU targets). "
            "cortex-m4 runs the model in TFLite Micro firmware on an emulated board (cycles, "
            "latency, whole-firmware flash and RAM) when the Arm GNU toolchain and "
            "qemu-system-arm are installed and KERAS_NAS_TFLM_DIR names a TFLite Micro tree."
        ),
    )
    p.add_argument("model", help="path of the .tflite file")
    p.add_argument("--target", default="host", help=f"target name (default: host); one of: {_targets_help()}")
    p.add_argument("--runs", type=int, default=50, help="timed LiteRT runs (default: 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed warm-up runs (default: 5)")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    p.add_argument("--no-per-op", action="store_true", help="omit the per-op table")
    p.set_defaults(func=cmd_profile)

    from keras_nas.commands import add_parsers

    add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse `argv` (default `sys.argv[1:]`) and run the subcommand.

    Returns:
        The process exit code (0 success, 2 bad input, 130 stopped with Ctrl-C).

    Example:

    >>> main(["profile", "model.tflite", "--target", "cortex-m4"])  # doctest: +SKIP
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        # Every finished trial is already on disk (each is written whole); a search resumes.
        resume = (" Every finished trial is kept in the search folder: run the same command again "
                  "(without `overwrite: true`) to resume.") if args.command == "search" else ""
        print(f"keras-nas {args.command}: stopped (Ctrl-C).{resume}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
