"""Keras Tuner's chief/worker mode for keras-nas searches (see docs/distributed.md).

Keras Tuner runs one chief process (`KERASTUNER_TUNER_ID` contains "chief") that
holds the oracle behind a gRPC server and any number of worker processes that
ask it for trials. Three things it does not do are added here:

- A worker that dies mid-trial is noticed: workers send a heartbeat while they
  run a trial, and the chief hands a trial whose worker stayed silent for
  `NASOracle(worker_timeout=...)` seconds to the next worker that asks. Keras
  Tuner would keep that trial RUNNING forever and the chief would never exit.
- A failed trial's reason and outcome reach the chief: Keras Tuner's gRPC `Trial`
  has no message field, so both travel as names of metrics of the ended trial
  and are put back on the trial by the oracle. Without the outcome the chief
  cannot tell a candidate rejected for its hardware cost from a crash.
- The chief stops within a second of the last trial (Keras Tuner polls every
  20 s) and forgets workers that went silent between trials.

gRPC is imported only in distributed mode (`pip install keras-nas[distributed]`).
"""

from __future__ import annotations

import json
import os
import threading
import time

from keras_tuner.src.distribute import utils as dist_utils

from keras_nas import run_record

# How often a worker tells the chief it is alive while it runs a trial.
HEARTBEAT_SECONDS = 2.0
# How long a worker waits before asking again when the chief has no trial for it yet.
IDLE_POLL_SECONDS = 1.0
# How often the chief checks whether the search is over.
CHIEF_POLL_SECONDS = 0.5
# Prefix of the metric name that carries a failed trial's message to the chief.
MESSAGE_PREFIX = "keras_nas/message:"
# Prefix of the metric name that carries a trial's recorded outcome (`keras_nas.run_record`).
OUTCOME_PREFIX = "keras_nas/outcome:"


def is_chief() -> bool:
    """Whether this process is the chief of a distributed search."""
    return dist_utils.is_chief_oracle()


def is_worker() -> bool:
    """Whether this process is a worker of a distributed search."""
    return dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()


def worker_oracle(client):
    """Wraps a worker's `OracleClient` so that it also answers `seed` and `trials`.

    Args:
        client: The `keras_tuner` `OracleClient` a worker tuner got.

    Returns:
        An `OracleClient` talking to the same chief.
    """
    from keras_tuner.src.distribute import oracle_client

    class WorkerOracleClient(oracle_client.OracleClient):
        """`OracleClient` that also answers `seed` (the local oracle's) and `trials` (the chief's)."""

        def __init__(self, oracle):
            super().__init__(oracle)
            self.search_over = False

        def __getattr__(self, name):
            if name == "seed":
                return self._oracle.seed
            return super().__getattr__(name)

        def create_trial(self, tuner_id):
            trial = super().create_trial(tuner_id)
            self.search_over = trial.status == "STOPPED"
            return trial

        def get_trial(self, trial_id):
            self._check_chief_reachable()
            return super().get_trial(trial_id)

        def get_best_trials(self, num_trials=1):
            self._check_chief_reachable()
            return super().get_best_trials(num_trials)

        @property
        def trials(self) -> dict:
            # Every trial of the chief: `get_best_trials` lists all when asked for more.
            # Keras Tuner's gRPC `Trial` has no message, so rejections look like failures here.
            return {t.trial_id: t for t in self.get_best_trials(2**62)}

        def _check_chief_reachable(self):
            # Once told to stop, the chief may be gone; Keras Tuner would wait an hour for it.
            if self.search_over:
                raise RuntimeError(
                    f"This process is worker {self.tuner_id!r} of a distributed search, which is "
                    "over: the chief process holds the results, selects the winner and trains it."
                )

    return WorkerOracleClient(client._oracle)


def attach_message(trial) -> None:
    """Puts `trial.message` and its recorded outcome where Keras Tuner's gRPC `Trial` carries them.

    That is, in metric names (see `take_message`).
    """
    if trial.message:
        trial.metrics.register(MESSAGE_PREFIX + trial.message)
    outcome = run_record.recorded_outcome(trial)
    if outcome is not None:
        trial.metrics.register(OUTCOME_PREFIX + json.dumps(outcome.to_dict()))


def take_message(trial) -> None:
    """Moves a message and an outcome carried by `attach_message` back onto the trial."""
    for name in list(trial.metrics.metrics):
        if name.startswith(MESSAGE_PREFIX):
            trial.metrics.metrics.pop(name)
            trial.message = trial.message or name[len(MESSAGE_PREFIX):]
        elif name.startswith(OUTCOME_PREFIX):
            trial.metrics.metrics.pop(name)
            outcome = run_record.Outcome.from_dict(json.loads(name[len(OUTCOME_PREFIX):]))
            run_record.record_outcome(trial, outcome)


class Heartbeat:
    """Tells the chief, every `HEARTBEAT_SECONDS`, that this worker still runs a trial.

    The heartbeat is a `get_trial` call, which the chief's `NASOracle` counts as a
    sign of life of the worker running that trial.

    Args:
        oracle: The worker's oracle client.
        trial_id: The trial being run.
    """

    def __init__(self, oracle, trial_id: str):
        self._oracle = oracle
        self._trial_id = trial_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"keras-nas-heartbeat-{trial_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self._oracle.get_trial(self._trial_id)
            except Exception:  # noqa: BLE001 - a missed beat only delays; the trial goes on
                pass

    def stop(self) -> None:
        """Stops the heartbeat (does not wait for a beat in flight)."""
        self._stop.set()


def serve(tuner, verbose=None) -> None:
    """Runs the chief: serves the oracle to the workers until the search is over.

    Like `keras_tuner`'s `oracle_chief.start_server`, but returns as soon as
    the oracle says the search is over (`NASOracle.search_done`) instead of
    polling every 20 s, and stops the server.

    Args:
        tuner: The chief's `NASTuner`.
        verbose: Verbosity of the oracle's display, if given.

    Raises:
        RuntimeError: If the chief cannot listen on KERASTUNER_ORACLE_IP:PORT.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    oracle = tuner.oracle
    if verbose is not None:
        oracle.verbose = verbose
    tuner.save()
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as e:
        port, error = 0, e
    else:
        error = None
    if not port:
        raise RuntimeError(
            f"The chief could not listen on {address} ({error or 'port unavailable'}): set "
            "KERASTUNER_ORACLE_IP to an address of this machine and KERASTUNER_ORACLE_PORT to a "
            "free port."
        )
    server.start()
    try:
        while not (servicer.stop_triggered and oracle.search_done()):
            time.sleep(CHIEF_POLL_SECONDS)
    finally:
        server.stop(grace=2).wait()
