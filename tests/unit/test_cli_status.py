"""`ftstudio status` on the local target: paths, the executions table, the endpoint."""
from __future__ import annotations

import json

from infra.local.backend import LocalBackend
from test_local_supervisor import wait_done
from test_local_support import cli, local_python, new_project, step  # noqa: F401 - fixtures


def test_status_lists_runs_with_reason_or_adapter(new_project, capsys):
    project = new_project(step("job.py"), {"job.py": """
        import os, sys
        if os.path.exists("fail-next"):
            sys.exit("CUDA out of memory")
        out = f"outputs/{os.environ['RUN_ID']}"
        os.makedirs(out)
        open(f"{out}/adapter_config.json", "w").write("{}")
        open("fail-next", "w").write("")
    """})
    backend = LocalBackend(project)
    good = wait_done(backend, backend.run().name)
    bad = wait_done(backend, backend.run().name)
    code, out, _ = cli(capsys, "status", "--project", str(project.root))
    assert code == 0
    assert "target local" in out and "share:" in out and "python:" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip().startswith("demo-")}
    assert "Succeeded" in rows[good.name] and good.adapter_path in rows[good.name]
    assert "Failed" in rows[bad.name] and "CUDA out of memory (exit code 1)" in rows[bad.name]
    assert "Inference endpoint: not deployed" in out

    project.update_inference_config(ACA_APP_ENDPOINT="http://127.0.0.1:7860")
    code, out, _ = cli(capsys, "status", "--json", "--project", str(project.root))
    doc = json.loads(out)
    assert doc["target"] == "local" and doc["endpoint"] == "http://127.0.0.1:7860"
    assert [e["name"] for e in doc["executions"]] == [bad.name, good.name]
    assert doc["executions"][1]["adapter_path"] == good.adapter_path
    assert doc["resources"]["share"].endswith("share")


def test_status_of_a_fresh_project(new_project, capsys):
    project = new_project(["true"])
    code, out, _ = cli(capsys, "status", "--project", str(project.root))
    assert code == 0 and "none yet: ftstudio run" in out
