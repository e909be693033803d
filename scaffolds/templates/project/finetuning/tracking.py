"""Experiment tracking of a training run with MLflow: the config as params, per-step metrics, the adapter.

Where it goes:
- ``MLFLOW_TRACKING_URI`` set (an ``mlflow server``, an Azure ML workspace's MLflow URI): there. Its
  credentials (``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, kept as secrets) are read
  by MLflow from the environment and never written anywhere.
- otherwise the run's own embedded store, ``outputs/<RUN_ID>/tracking/``: ``mlflow.db`` (SQLite)
  and ``artifacts/``. SQLite is not safe on a network file system (Azure Files) while it is being
  written, so the job writes the database on local disk and publishes a copy into the run folder
  (write a temp file, then rename) after each checkpoint and at the end; artifacts are plain files
  written once. So a run on Azure is tracked on the share and comes back with ``download``, and
  ``ftstudio runs`` reads it with MLflow's own client.

The MLflow run's name is the RUN_ID; a resumed run continues the same MLflow run. Tracking never
fails a training run: a tracking error is said once and training goes on.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

TRACKING_DIR = "tracking"
DB_NAME = "mlflow.db"
PARAM_MAX = 6000  # MLflow's limit on a param value
METRICS = {"loss": "loss", "learning_rate": "learning_rate", "grad_norm": "grad_norm", "eval_loss": "eval_loss",
           "epoch": "epoch"}


def flat_params(config: dict, prefix: str = "") -> dict[str, str]:
    """``{"training.learning_rate": "0.0002", ...}``: every leaf of the train config, as MLflow params."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat_params(value, name + "."))
        else:
            text = json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None else str(value)
            out[name] = text[:PARAM_MAX]
    return out


def experiment_name(root: Path) -> str:
    """The project's name (from its answers file, the folder's name in a container is /mount)."""
    try:
        answers = json.loads((root / ".ftstudio-answers.json").read_text(encoding="utf-8"))
        if isinstance(answers.get("project_name"), str) and answers["project_name"]:
            return answers["project_name"]
    except (OSError, ValueError):
        pass
    return root.resolve().name or "ftstudio"


class Tracker:
    """One training run in MLflow. Every method is safe to call when tracking is off or broken."""

    def __init__(self, run_dir: Path, run_id: str, root: Path, say):
        self.say = say
        self.run_dir = run_dir
        self.folder = run_dir / TRACKING_DIR
        self.remote = os.environ.get("MLFLOW_TRACKING_URI") or None
        self.local_db: Path | None = None
        self.client = self.mlflow_run = None
        self.last_tokens = self.last_time = None
        try:
            self._start(run_id, root)
        except Exception as exc:  # noqa: BLE001 - tracking must never stop training
            self._off(exc)

    # -- setup ----------------------------------------------------------------------------------------
    def _start(self, run_id: str, root: Path) -> None:
        import logging

        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # nothing leaves the machine but the run
        for name in ("mlflow", "alembic"):  # their INFO lines (database migrations) are noise in a job's log
            logging.getLogger(name).setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        if self.remote:
            uri, artifacts = self.remote, None
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.local_db = Path(tempfile.mkdtemp(prefix="ftstudio-mlflow-")) / DB_NAME
            if (self.folder / DB_NAME).is_file():  # a resumed run: continue its store
                shutil.copyfile(self.folder / DB_NAME, self.local_db)
            uri = f"sqlite:///{self.local_db}"
            artifacts = (self.folder / "artifacts").resolve().as_uri()
        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        name = experiment_name(root)
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(
            name, artifact_location=artifacts)
        previous = self.client.search_runs([experiment_id], f"attributes.run_name = '{run_id}'", max_results=1)
        if previous:
            self.mlflow_run = previous[0].info.run_id
            self.client.update_run(self.mlflow_run, status="RUNNING")
        else:
            self.mlflow_run = self.client.create_run(experiment_id, run_name=run_id,
                                                     tags={"ftstudio.run_id": run_id}).info.run_id
        where = self.remote_label() if self.remote else f"outputs/{run_id}/{TRACKING_DIR}/{DB_NAME}"
        self.say(f"tracking: MLflow run {self.mlflow_run} in {where}")

    def remote_label(self) -> str:
        """The server's address without credentials a URI may carry."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.remote or "")
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"

    def _off(self, exc: Exception) -> None:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for secret in (self.remote, os.environ.get("MLFLOW_TRACKING_PASSWORD"), os.environ.get("MLFLOW_TRACKING_TOKEN")):
            if secret:  # an error may quote the URI (credentials and all) or a header
                reason = reason.replace(secret, "***")
        self.say(f"tracking: off ({type(exc).__name__}: {reason[:200]}); training goes on")
        self.client = None

    @property
    def on(self) -> bool:
        return self.client is not None

    def describe(self) -> dict | None:
        """For metrics.json: where the run is tracked (never with credentials) and its MLflow run id."""
        if self.mlflow_run is None:
            return None
        where = self.remote_label() if self.remote else f"{TRACKING_DIR}/{DB_NAME}"
        return {"store": "remote" if self.remote else "embedded", "uri": where, "mlflow_run_id": self.mlflow_run}

    def _safe(self, action, *args) -> None:
        if not self.on:
            return
        try:
            action(*args)
        except Exception as exc:  # noqa: BLE001
            self._off(exc)

    # -- what a run logs --------------------------------------------------------------------------------------
    def log_params(self, config: dict) -> None:
        from mlflow.entities import Param

        def do():
            existing = self.client.get_run(self.mlflow_run).data.params
            params = [Param(k, v) for k, v in flat_params(config).items() if k not in existing]
            for start in range(0, len(params), 100):
                self.client.log_batch(self.mlflow_run, params=params[start:start + 100])
        self._safe(do)

    def log_step(self, step: int, logs: dict, tokens_seen: int | None) -> None:
        from mlflow.entities import Metric

        def do():
            now = time.time()
            stamp = int(now * 1000)
            metrics = [Metric(name, float(logs[key]), stamp, step) for key, name in METRICS.items()
                       if isinstance(logs.get(key), (int, float))]
            if tokens_seen is not None and self.last_tokens is not None and now > self.last_time \
                    and "loss" in logs:
                rate = (tokens_seen - self.last_tokens) / (now - self.last_time)
                metrics.append(Metric("tokens_per_second", rate, stamp, step))
            if tokens_seen is not None and "loss" in logs:
                self.last_tokens, self.last_time = tokens_seen, now
            if metrics:
                self.client.log_batch(self.mlflow_run, metrics=metrics)
        self._safe(do)

    def log_final(self, values: dict, step: int) -> None:
        """Metrics measured once at the end (the evaluation), at the last step."""
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        self._safe(lambda: self.client.log_batch(self.mlflow_run, metrics=[
            Metric(k, float(v), stamp, step) for k, v in values.items()]))

    def finish(self, metrics: dict, adapter_dir: Path | None) -> None:
        """Final metrics, the adapter as an artifact, the run's end; then the store is published."""
        from mlflow.entities import Metric

        def do():
            stamp = int(time.time() * 1000)
            finals = [Metric(f"final_{k}", float(v), stamp, int(metrics.get("steps") or 0))
                      for k, v in (("loss", metrics.get("final_loss")), ("runtime_s", metrics.get("train_runtime_s")))
                      if isinstance(v, (int, float))]
            if finals:
                self.client.log_batch(self.mlflow_run, metrics=finals)
            if adapter_dir is not None:
                for name in ("adapter_config.json", "adapter_model.safetensors"):
                    if (adapter_dir / name).is_file():
                        self.client.log_artifact(self.mlflow_run, str(adapter_dir / name), "adapter")
            status = {"succeeded": "FINISHED", "stopped": "KILLED"}.get(metrics.get("status"), "FAILED")
            self.client.set_terminated(self.mlflow_run, status=status)
        self._safe(do)
        self.publish()

    def fail(self) -> None:
        self._safe(lambda: self.client.set_terminated(self.mlflow_run, status="FAILED"))
        self.publish()

    def publish(self) -> None:
        """Copy the local database into the run folder, atomically (readers never see half a file)."""
        if self.local_db is None or not self.local_db.is_file():
            return
        try:
            tmp = self.folder / f".{DB_NAME}.tmp"
            shutil.copyfile(self.local_db, tmp)
            os.replace(tmp, self.folder / DB_NAME)
        except OSError as exc:
            self.say(f"tracking: could not publish {DB_NAME} ({exc.strerror}); training goes on")


def extra_reporters(say) -> list[str]:
    """The trainer's ``report_to``: W&B when a WANDB_API_KEY secret is set (said when wandb is missing)."""
    import importlib.util

    if not os.environ.get("WANDB_API_KEY"):
        return []
    if importlib.util.find_spec("wandb") is None:
        say("WANDB_API_KEY is set but wandb is not installed: add `wandb` to setup/requirements.txt to report there")
        return []
    return ["wandb"]


def callback(tracker: Tracker):
    """A TrainerCallback that feeds the tracker from the trainer's log and save events."""
    from transformers import TrainerCallback

    class Tracking(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            tokens = getattr(state, "num_input_tokens_seen", None)
            tracker.log_step(state.global_step, logs or {}, tokens if tokens else None)

        def on_save(self, args, state, control, **kwargs):
            tracker.publish()

    return Tracking()
