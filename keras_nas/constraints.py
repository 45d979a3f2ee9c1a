"""Hard hardware constraints on a candidate: what the target board or phone can afford."""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping

# constraint name -> (the `HardwareCost.to_dict()` field it limits, unit shown to users)
CONSTRAINT_METRICS = {
    "flash_kb": ("flash_kb", "KB"),
    "peak_ram_kb": ("peak_ram_kb", "KB"),
    "latency_ms": ("latency_ms", "ms"),
}


@dataclasses.dataclass(frozen=True)
class Constraints:
    """Upper limits a candidate must meet to be trained at all.

    Each limit is optional; `None` means "no limit". Costs are measured on the
    full-integer int8 TFLite model: flash is the size of the `.tflite` file
    `NASModel.export` writes (metadata included; on an emulated board, the whole
    firmware image), peak RAM the tensor arena TFLite Micro allocates, latency
    the median time of one inference on the target (this host's LiteRT unless a
    target says otherwise).

    Args:
        flash_kb: Largest model size in KB (1 KB = 1024 bytes).
        peak_ram_kb: Largest TFLite Micro tensor arena in KB.
        latency_ms: Largest median host latency in milliseconds.

    Example:

    ```python
    limits = Constraints.from_dict({"flash_kb": 64, "peak_ram_kb": 32})
    limits.violations({"flash_kb": 80.0, "peak_ram_kb": 12.0, "latency_ms": 0.1})
    # ['flash 80.0 KB > 64 KB']
    ```
    """

    flash_kb: float | None = None
    peak_ram_kb: float | None = None
    latency_ms: float | None = None

    def __post_init__(self):
        for name in CONSTRAINT_METRICS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(
                    f"Constraint {name!r} must be a number, got {value!r} "
                    f"({type(value).__name__})."
                )
            if not math.isfinite(value) or value <= 0:
                raise ValueError(
                    f"Constraint {name!r} must be a positive, finite number, got "
                    f"{value!r}. Give the limit of your target, e.g. {name}=64, or leave "
                    "it out for no limit."
                )

    @classmethod
    def from_dict(cls, constraints: Mapping[str, float] | "Constraints" | None) -> "Constraints":
        """Builds constraints from a dict such as `{"flash_kb": 64, "peak_ram_kb": 32}`.

        Args:
            constraints: A mapping of constraint names to limits, a `Constraints`,
                or `None` for no limits.

        Returns:
            A `Constraints` instance.
        """
        if constraints is None:
            return cls()
        if isinstance(constraints, Constraints):
            return constraints
        if not isinstance(constraints, Mapping):
            raise TypeError(
                "`constraints` must be a dict such as {'flash_kb': 64, 'peak_ram_kb': 32}, "
                f"got {type(constraints).__name__}."
            )
        unknown = sorted(set(constraints) - set(CONSTRAINT_METRICS))
        if unknown:
            raise ValueError(
                f"Unknown constraint name(s) {unknown}. Valid names: "
                f"{sorted(CONSTRAINT_METRICS)}."
            )
        return cls(**dict(constraints))

    def active(self) -> dict[str, float]:
        """The limits that are set, as `{name: limit}`."""
        return {
            name: getattr(self, name)
            for name in CONSTRAINT_METRICS
            if getattr(self, name) is not None
        }

    def violations(self, cost: Mapping[str, float]) -> list[str]:
        """Describes every limit that `cost` breaks.

        Args:
            cost: Measured costs keyed like `HardwareCost.to_dict()` (`flash_kb`,
                `peak_ram_kb`, `latency_ms`).

        Returns:
            One human-readable string per broken limit; empty if the cost fits.
        """
        broken = []
        for name, limit in self.active().items():
            field, unit = CONSTRAINT_METRICS[name]
            value = cost[field]
            if value > limit:
                label = field.rsplit("_", 1)[0].replace("_", " ")
                # One decimal, or three where one would not show that it is over the limit.
                shown = f"{value:.1f}" if round(value, 1) > limit else f"{value:.3f}"
                broken.append(f"{label} {shown} {unit} > {limit:g} {unit}")
        return broken

    def with_limits_of(self, target) -> "Constraints":
        """These constraints, with `target`'s flash and RAM (a `Target`) as limits where none is set."""
        limits = {
            "flash_kb": self.flash_kb if self.flash_kb is not None else target.flash_kb,
            "peak_ram_kb": self.peak_ram_kb if self.peak_ram_kb is not None else target.ram_kb,
            "latency_ms": self.latency_ms,
        }
        return Constraints.from_dict({k: v for k, v in limits.items() if v is not None})

    def over_limit(self, costs: Mapping[str, Mapping[str, float] | None]) -> dict[str, list[str]]:
        """The trials whose recorded cost breaks these limits (e.g. tightened on a resume).

        Args:
            costs: `{trial_id: cost dict or None}`; trials without a cost are skipped.

        Returns:
            `{trial_id: violations}` for every trial over a limit.

        Example:

        ```python
        Constraints.from_dict({"flash_kb": 64}).over_limit({"0001": {"flash_kb": 80.0, ...}})
        # {"0001": ["flash 80.0 KB > 64 KB"]}
        ```
        """
        over = {}
        for trial_id, cost in costs.items():
            broken = self.violations(cost) if cost is not None else []
            if broken:
                over[trial_id] = broken
        return over

    def shipped_over_limit(self, export_report: Mapping) -> list[str]:
        """Names every exported integer file larger than the `flash_kb` limit.

        A model on raw audio ships its front-end's file too: each integer
        file counts with it.

        Args:
            export_report: What `keras_nas.export.export_model` returns.

        Returns:
            One message per file over the limit (empty if all fit or there is no limit).
        """
        if self.flash_kb is None:
            return []
        front_end = export_report.get("front_end", {}).get("size_bytes", 0)
        with_front_end = " with the front-end's file" if front_end else ""
        return [
            f"The exported {fmt} file{with_front_end} is {(entry['size_bytes'] + front_end) / 1024:.2f} KB, over "
            f"the flash_kb limit of {self.flash_kb:g} KB the search checked (metadata such as labels adds bytes "
            "after the search): shorten the labels, or search with a little margin under the limit."
            for fmt, entry in export_report.get("formats", {}).items()
            if fmt.startswith("tflite-int8") and (entry.get("size_bytes", 0) + front_end) / 1024 > self.flash_kb
        ]

    def worst_ratio(self, cost: Mapping[str, float]) -> float:
        """The largest cost/limit ratio over the set limits (<= 1 means it fits)."""
        ratios = [
            cost[CONSTRAINT_METRICS[name][0]] / limit for name, limit in self.active().items()
        ]
        return max(ratios, default=0.0)

    def __str__(self) -> str:
        active = self.active()
        if not active:
            return "no constraints"
        return ", ".join(
            f"{name} <= {limit:g}" for name, limit in active.items()
        )
