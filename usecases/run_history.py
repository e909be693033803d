"""The training runs of a project (``ftstudio runs``): what each run left in its outputs folder.

A run folder (``outputs/<RUN_ID>/``) holds ``metrics.json`` (written by train.py when the run
ends or stops: losses, eval losses, duration, tokens/s) and ``tracking/mlflow.db``, the run's
MLflow store (published by the job as it trains, so a running run shows up too). Run folders are
looked for where this machine has them: the local backend's share and the project's own
``outputs/`` (where ``ftstudio download`` puts Azure runs). Reading needs no MLflow: the
``tracking_uri`` of each run is given for MLflow's own client and UI.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

TRACKING_DB = Path("tracking") / "mlflow.db"


def output_roots(project) -> list[Path]:
    """The folders that may hold this project's run folders, on this machine."""
    from infra.local.layout import LocalLayout

    roots = [LocalLayout.for_project(project).share / "outputs", project.root / "outputs"]
    seen, out = set(), []
    for root in roots:
        key = root.resolve()
        if root.is_dir() and key not in seen:
            seen.add(key)
            out.append(root)
    return out


def _read(path: Path) -> Optional[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _points(value: Any) -> list[list]:
    return [p for p in value if isinstance(p, list) and len(p) == 2] if isinstance(value, list) else []


def _best(points: list[list]) -> Optional[float]:
    values = [p[1] for p in points if isinstance(p[1], (int, float))]
    return min(values) if values else None


def run_record(run_dir: Path) -> Optional[dict]:
    """One run's row (None when the folder is not a run's)."""
    metrics = _read(run_dir / "metrics.json")
    db = run_dir / TRACKING_DB
    if metrics is None and not db.is_file():
        return None
    m = metrics or {}
    losses, evals = _points(m.get("losses")), _points(m.get("eval_losses"))
    tracking = m.get("tracking") if isinstance(m.get("tracking"), dict) else {}
    return {
        "run_id": run_dir.name,
        "status": m.get("status") or "running",  # no metrics.json yet: the job is still writing its store
        "steps": m.get("steps"),
        "max_steps": m.get("max_steps"),
        "final_loss": m.get("final_loss"),
        "best_loss": _best(losses),
        "eval_loss": evals[-1][1] if evals else None,
        "best_eval_loss": _best(evals),
        "duration_s": m.get("train_runtime_s"),
        "tokens_per_second": m.get("tokens_per_second"),
        "dataset_format": m.get("dataset_format"),
        "evaluation": m.get("evaluation") if isinstance(m.get("evaluation"), dict) else None,
        "adapter": str(run_dir) if (run_dir / "adapter_config.json").is_file() else None,
        "registered_version": None,
        "tracking_uri": f"sqlite:///{db.resolve()}" if db.is_file() else (
            tracking.get("uri") if tracking.get("store") == "remote" else None),
        "mlflow_run_id": tracking.get("mlflow_run_id"),
        "finished_at": m.get("finished_at"),
        "losses": losses,
        "eval_losses": evals,
        "folder": str(run_dir),
    }


def list_runs(project) -> list[dict]:
    """Every run found on this machine, newest first (unfinished ones first of all)."""
    runs: dict[str, dict] = {}
    for root in output_roots(project):
        for run_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            record = run_record(run_dir)
            if record and record["run_id"] not in runs:  # the share's copy wins over a download of it
                runs[record["run_id"]] = record
    return sorted(runs.values(), key=lambda r: (r["finished_at"] is None, r["finished_at"] or ""), reverse=True)
