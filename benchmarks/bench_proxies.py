"""Benchmark: do zero-cost proxies rank candidates of the default space like training does?

For each data set it samples `--n` distinct random candidates of the default
search space (`NASHyperModel`, `ConvSpace`), and for each candidate:

- computes every proxy of `keras_nas.proxies.PROXIES` (synflow, naswot,
  grad_norm, jacob_cov) on the freshly initialized model (seeded) with one batch
  of `--batch-size` training samples, and its parameter count (the baseline
  proxy: a proxy is only worth its cost if it ranks better than "#params");
- trains the same initialized model for `--epochs` epochs (seeded) and records
  the best validation accuracy over the epochs (Keras Tuner's objective);
- optionally (`--flash`) the int8 TFLite flash size (`keras_nas.tflite.measure_model`).

It reports, per proxy, the Spearman rank correlation with the trained
accuracy, and the mean accuracy of the candidate the proxy picks out of random
pools of 8 (the `ProxyScreen` use: "draw 8, train the best-by-proxy"),
compared with a random pick and with the best of the pool (oracle).

Usage:
    python benchmarks/bench_proxies.py --dataset digits --n 12 --epochs 3
    python benchmarks/bench_proxies.py --dataset all --n 30 --epochs 5 --json /tmp/proxies.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from keras_nas import proxies  # noqa: E402
from keras_nas.datasets import DATASETS  # noqa: E402
from keras_nas.hypermodel import NASHyperModel  # noqa: E402
from keras_nas.strategies import RandomSearch  # noqa: E402
from keras_nas.strategies.base import values_key  # noqa: E402

POOL = 8
POOL_DRAWS = 2000
BASELINE = "params"


def sample_candidates(hypermodel: NASHyperModel, n: int, seed: int) -> list[dict]:
    """`n` distinct random candidates of the hypermodel's space."""
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    oracle = RandomSearch(max_trials=n, seed=seed)
    oracle.update_space(hp)
    rng = np.random.default_rng(seed)
    values, seen = [], set()
    while len(values) < n:
        candidate = oracle.random_values(rng)
        key = values_key(candidate)
        if key not in seen:
            seen.add(key)
            values.append(candidate)
    return values


def evaluate_candidate(hypermodel, values, data, args) -> dict:
    """Proxies at initialization, then training, for one candidate."""
    (x_train, y_train), (x_val, y_val), _ = data
    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    hp = keras_tuner.HyperParameters()
    hp.values = dict(values)
    model = hypermodel.build(hp)
    rng = np.random.default_rng(args.seed)
    index = np.sort(rng.choice(len(x_train), size=args.batch_size, replace=False))
    x_batch, y_batch = x_train[index], y_train[index]
    record = {"values": values, BASELINE: int(model.count_params()), "seconds": {}}
    for name in proxies.PROXIES:
        start = time.perf_counter()
        try:
            record[name] = proxies.compute_proxy(name, model, x_batch, y_batch)
        except ValueError as error:  # e.g. no ReLU-like layer: recorded, not fatal
            record[name] = float("nan")
            record.setdefault("errors", {})[name] = str(error)
        record["seconds"][name] = time.perf_counter() - start
    if args.flash:
        from keras_nas import tflite

        _, cost = tflite.measure_model(model, x_train[:200])
        record["flash_kb"] = cost.flash_kb
    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=args.epochs,
        batch_size=32,
        verbose=0,
    )
    record["train_seconds"] = time.perf_counter() - start
    record["val_accuracy"] = float(np.nanmax(history.history["val_accuracy"]))
    return record


def finite_for_ranking(scores) -> np.ndarray:
    """-inf (degenerate candidate) ranks last; NaN stays NaN (excluded)."""
    return np.nan_to_num(np.asarray(scores, dtype="float64"), nan=np.nan, neginf=-1e300, posinf=1e300)


def pool_pick_accuracy(scores, accuracy, seed: int) -> float:
    """Mean accuracy of the best-by-score candidate of random pools of `POOL`."""
    rng = np.random.default_rng(seed)
    picks = []
    for _ in range(POOL_DRAWS):
        pool = rng.choice(len(accuracy), size=min(POOL, len(accuracy)), replace=False)
        picks.append(accuracy[pool[int(np.argmax(scores[pool]))]])
    return float(np.mean(picks))


def summarize(records: list[dict], seed: int) -> dict:
    accuracy = np.array([r["val_accuracy"] for r in records])
    rng = np.random.default_rng(seed)
    pools = [rng.choice(len(accuracy), size=min(POOL, len(accuracy)), replace=False) for _ in range(POOL_DRAWS)]
    summary = {
        "random_pick": float(np.mean([accuracy[p].mean() for p in pools])),
        "oracle_pick": float(np.mean([accuracy[p].max() for p in pools])),
        "proxies": {},
    }
    for name in [BASELINE, *proxies.PROXIES, *(["flash_kb"] if "flash_kb" in records[0] else [])]:
        scores = finite_for_ranking([r[name] for r in records])
        ok = ~np.isnan(scores)
        rho, p_value = spearmanr(scores[ok], accuracy[ok]) if ok.sum() > 2 else (np.nan, np.nan)
        seconds = [r["seconds"][name] for r in records if name in r["seconds"]]
        summary["proxies"][name] = {
            "spearman": float(rho),
            "p_value": float(p_value),
            "valid": int(ok.sum()),
            "pool_pick": pool_pick_accuracy(np.where(ok, scores, -np.inf), accuracy, seed),
            "seconds_mean": float(np.mean(seconds)) if seconds else 0.0,
        }
    return summary


def print_table(dataset: str, records: list[dict], summary: dict) -> None:
    accuracy = [r["val_accuracy"] for r in records]
    print(f"\n## {dataset}: {len(records)} candidates, val accuracy "
          f"{min(accuracy):.3f}..{max(accuracy):.3f} (median {np.median(accuracy):.3f})")
    print(f"| proxy | Spearman rho vs val acc | p | pick of {POOL} (mean val acc) | s / candidate |")
    print("|---|---:|---:|---:|---:|")
    for name, row in summary["proxies"].items():
        print(f"| {name} | {row['spearman']:+.3f} | {row['p_value']:.3f} | "
              f"{row['pool_pick']:.4f} | {row['seconds_mean']:.2f} |")
    print(f"| random pick | | | {summary['random_pick']:.4f} | |")
    print(f"| oracle (best of {POOL}) | | | {summary['oracle_pick']:.4f} | |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=[*DATASETS, "all"], default="all")
    parser.add_argument("--n", type=int, default=30, help="candidates per data set")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64, help="samples per proxy score")
    parser.add_argument("--flash", action="store_true", help="also measure int8 flash (slower)")
    parser.add_argument("--json", default=None, help="write all records and summaries here")
    args = parser.parse_args(argv)
    if args.n < 3:
        parser.error("--n must be at least 3 for a rank correlation.")

    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    print(f"command: {command}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, keras {keras.__version__}")
    datasets = list(DATASETS) if args.dataset == "all" else [args.dataset]
    results = {"command": command, "args": vars(args), "datasets": {}}
    for dataset in datasets:
        data = DATASETS[dataset]()
        x_train = data[0][0]
        axes = tuple(range(x_train.ndim - 1))
        hypermodel = NASHyperModel(
            x_train.shape[1:],
            int(data[0][1].max()) + 1,
            mean=x_train.mean(axis=axes),
            variance=x_train.var(axis=axes),
        )
        records = []
        start = time.perf_counter()
        for i, values in enumerate(sample_candidates(hypermodel, args.n, args.seed)):
            record = evaluate_candidate(hypermodel, values, data, args)
            records.append(record)
            print(f"[{dataset} {i + 1}/{args.n}] params={record[BASELINE]} "
                  + " ".join(f"{k}={record[k]:.4g}" for k in proxies.PROXIES)
                  + f" val_acc={record['val_accuracy']:.4f} ({record['train_seconds']:.0f} s)",
                  flush=True)
        summary = summarize(records, args.seed)
        summary["wall_seconds"] = time.perf_counter() - start
        print_table(dataset, records, summary)
        results["datasets"][dataset] = {"summary": summary, "records": records}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, default=str)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
