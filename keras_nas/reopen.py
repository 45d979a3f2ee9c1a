"""Reopening a finished search without searching (`NASModel.load`): read-only, nothing written.

A finished search folder holds its trials (Keras Tuner's files), the trained
winner and what it is (`winner.keras`, `winner.json`, with the search's
settings; see `keras_nas.run_record`). `open_search` reads them back: the
winner as a Keras model, and a `NASTuner` over a `ReadOnlyOracle` whose trials
and state are those of the folder. Neither writes anything: the oracle's
`save` and `propose` refuse, and the repairs a resumed search makes (lost
trials recorded, the lock taken) are not made. The folder may even be read-only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os

import keras
import keras_tuner

from keras_nas import run_record, search_dir, tasks
from keras_nas.run_record import SearchDirectoryError
from keras_nas.strategies import NASOracle
from keras_nas.tuner import NASTuner

READ_ONLY = (
    "This search was reopened read-only with NASModel.load: it proposes, trains and writes nothing. "
    "To search further, create a NASModel with the search's arguments and the same directory and "
    "project_name, and call fit (the search resumes)."
)


class ReadOnlyOracle(NASOracle):
    """A finished search's trials and strategy state, read from its folder and never written.

    Args:
        objective: The search's `keras_tuner.Objective`.
        seed: The search's seed (trial seeds derive from it).
    """

    def __init__(self, objective: keras_tuner.Objective, seed: int | None):
        super().__init__(objective=objective, seed=seed, max_trials=1)

    def propose(self, trial_id, rng):
        raise SearchDirectoryError(READ_ONLY)

    def save(self):
        raise SearchDirectoryError(READ_ONLY)

    def _save_trial(self, trial):
        raise SearchDirectoryError(READ_ONLY)

    def reload(self):
        # Keras Tuner's reload (trial.json files and oracle.json, read only), without the
        # repairs of a resume (`SearchControl.reload` records lost trials: a write).
        search_dir.check_search_files(self._project_dir)  # a corrupt file is named
        keras_tuner.Oracle.reload(self)
        run_record.restore_outcomes(self.trials, self._project_dir)


@dataclasses.dataclass(frozen=True)
class OpenedSearch:
    """A finished search read back from its folder.

    Attributes:
        project_dir: The folder (`directory/project_name`).
        model: The trained winner (`winner.keras`).
        winner: `winner.json`: trial id, score, cost, finalist scores, the
            final training's epochs and data, the search's settings (`search`).
        settings: The search's settings: `winner.json`'s (`NASModel.search_settings()`),
            else `run_record.read_settings`'.
        tuner: A `NASTuner` over a `ReadOnlyOracle` (no hypermodel: it builds nothing).
    """

    project_dir: str
    model: keras.Model
    winner: dict
    settings: dict
    tuner: NASTuner


def open_search(directory, project_name: str) -> OpenedSearch:
    """Reads a finished search back from `directory/project_name`, writing nothing.

    Args:
        directory: The search's `directory`, as given to `NASModel`.
        project_name: Its `project_name`.

    Returns:
        The `OpenedSearch`.

    Raises:
        FileNotFoundError: If the folder is missing, is not a keras-nas search,
            or holds a search without a trained winner (`fit` did not finish).
        SearchDirectoryError: If a file of the search is corrupt, or the winner
            does not match `winner.json`.
    """
    search_dir.check_project_name(project_name)
    project_dir = os.path.join(str(directory), project_name)
    where = f"directory={str(directory)!r}, project_name={project_name!r}"
    try:
        root = run_record.search_path(project_dir)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"NASModel.load({where}): {e} Check directory and project_name: they are those given to "
            "the NASModel whose fit ran the search."
        ) from e
    if not run_record.has_winner(root):
        raise FileNotFoundError(
            f"NASModel.load({where}): {str(root)!r} is not a finished keras-nas search: it has no "
            f"trained winner ({run_record.WINNER_MODEL} and {run_record.WINNER_INFO}), so its fit "
            "did not finish (or is still running). Run fit to the end with the same directory and "
            "project_name (it resumes the search), or check directory and project_name."
        )
    winner = run_record.read_winner(root)
    if not isinstance(winner, dict) or not isinstance(winner.get("trial_id"), str):
        raise SearchDirectoryError(
            f"{os.path.join(str(root), run_record.WINNER_INFO)} is corrupt (no trial id). "
            "Run fit again with the same directory and project_name to train the winner again."
        )
    model = run_record.load_winner_model(root)
    # `NASModel.search_settings()` as fit recorded them with the winner, else what the folder tells.
    settings = {**run_record.read_settings(root), **(winner.get("search") or {})}
    objective = settings.get("objective") or "val_accuracy"
    direction = settings.get("objective_direction") or tasks.direction_of(objective)
    oracle = ReadOnlyOracle(keras_tuner.Objective(objective, direction), settings.get("seed"))
    oracle._set_project_dir(str(directory), project_name)
    oracle.reload()
    constraints = settings.get("constraints")
    with contextlib.redirect_stdout(io.StringIO()):  # Keras Tuner's "Reloading Tuner from ..."
        tuner = NASTuner(
            hypermodel=None,
            oracle=oracle,
            constraints=constraints if isinstance(constraints, dict) else None,
            target=settings.get("target") or "host",
            directory=str(directory),
            project_name=project_name,
        )
    tuner.set_winner(winner["trial_id"], model)
    return OpenedSearch(str(root), model, winner, settings, tuner)


__all__ = ["OpenedSearch", "READ_ONLY", "ReadOnlyOracle", "open_search"]
