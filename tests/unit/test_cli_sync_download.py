"""`ftstudio sync` and `ftstudio download` on the local target."""
from __future__ import annotations

import json

from infra import workspace
from infra.local.backend import LocalBackend
from test_local_supervisor import wait_done
from test_local_support import cli, local_python, new_project, step  # noqa: F401 - fixtures


def test_sync_dry_run_lists_then_sync_copies(new_project, capsys):
    project = new_project(["true"], {"finetuning/train.py": "print(1)\n"})
    code, out, _ = cli(capsys, "sync", "--dry-run", "--project", str(project.root))
    assert code == 0 and out.startswith("Would copy 5 files") and "  + finetuning/train.py" in out
    code, out, _ = cli(capsys, "sync", "--project", str(project.root), "--json")
    doc = json.loads(out)
    assert code == 0 and "finetuning/train.py" in doc["uploaded"] and doc["dry_run"] is False
    code, out, _ = cli(capsys, "sync", "--project", str(project.root))
    assert out.startswith("Copied 0 files (0 B), deleted 0, 5 unchanged.")


def test_sync_too_big_is_exit_2_naming_force(new_project, capsys, monkeypatch):
    project = new_project(["true"], {"big.txt": "x" * 500})
    monkeypatch.setattr(workspace, "MAX_SYNC_BYTES", 100)
    code, _, err = cli(capsys, "sync", "--project", str(project.root))
    assert code == 2 and "--force" in err
    assert cli(capsys, "sync", "--force", "--project", str(project.root))[0] == 0


def test_download_defaults_to_the_latest_succeeded_run_into_outputs(new_project, capsys, tmp_path):
    project = new_project(step("job.py"), {"job.py": """
        import os
        out = f"outputs/{os.environ['RUN_ID']}"
        os.makedirs(out)
        open(f"{out}/adapter_config.json", "w").write('{"r": 8}')
        open(f"{out}/metrics.json", "w").write('{"status": "succeeded"}')
    """})
    backend = LocalBackend(project)
    done = wait_done(backend, backend.run().name)
    code, out, _ = cli(capsys, "download", "--project", str(project.root), "--json")
    dest = project.root / "outputs" / done.run_id
    assert code == 0 and json.loads(out) == {"path": str(dest)}
    assert json.loads((dest / "adapter_config.json").read_text()) == {"r": 8}
    code, out, _ = cli(capsys, "download", f"outputs/{done.run_id}/metrics.json", "--to", str(tmp_path / "m"),
                       "--project", str(project.root))
    assert code == 0 and (tmp_path / "m/metrics.json").is_file()
