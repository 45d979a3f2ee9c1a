"""Where a benchmark writes its results: never over an existing file, always whole.

A benchmark runs for hours; its results file is the only record of that run.
`check_new_output` refuses an existing path before any work, and
`write_results` writes atomically (`keras_nas.run_record.atomic_write_json`),
so a crash keeps the last whole version.

Example:

```python
check_new_output(args.output, "--output")   # at the start of main
...
write_results(args.output, report)
```
"""

from __future__ import annotations

import json
import os

from keras_nas.run_record import atomic_write_json


def check_new_output(path: str | None, option: str) -> None:
    """Exits with a message if `path` (given with `option`) already exists.

    Raises:
        SystemExit: Naming the path and what to do.
    """
    if path and os.path.lexists(path):
        raise SystemExit(
            f"{path} exists: it may hold finished results, and a benchmark never overwrites them; "
            f"choose another {option} path (or move the old file away first)."
        )


def write_results(path: str, results: dict) -> None:
    """Writes `results` as indented JSON (values JSON cannot hold as their `str`), atomically."""
    atomic_write_json(path, json.loads(json.dumps(results, default=str)), indent=1)


def finish_run(results: dict, script: str, argv, path: str | None) -> None:
    """Adds the command that reproduces the run, its date and machine to `results`; prints the command;
    writes `results` to `path` (if given).

    Args:
        results: The run's figures.
        script: The benchmark's file name, e.g. `"bench_front_end.py"`.
        argv: The arguments it was given (`None`: `sys.argv[1:]`).
        path: The `--json` output, or `None`.
    """
    import platform
    import shlex
    import sys
    import time

    command = f"python benchmarks/{script} " + shlex.join(argv if argv is not None else sys.argv[1:])
    results.update(command=command, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   machine=f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores")
    print("Reproduce with:", command)
    if path:
        write_results(path, results)
        print("wrote", path)
