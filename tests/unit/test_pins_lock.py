"""One source of truth for versions: pins.py, the test extra and the constraints files agree."""
from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock)


def test_pins_extra_and_locks_agree():
    assert lock.disagreements() == []


def test_a_disagreement_on_any_shared_package_is_reported():
    pins = {"uvicorn": "0.54.0", "olive-ai": "0.13.0"}
    extra = {"uvicorn": "==0.54.0", "pytest": ">=8"}
    test_lock = {"uvicorn": "0.54.0", "pytest": "9.0.0"}
    olive_lock = {"olive-ai": "0.13.0"}
    assert lock.disagreements(pins, extra, test_lock, olive_lock) == []
    # the failure that turned main red: the extra floats while pins.py pins
    assert lock.disagreements(pins, {**extra, "uvicorn": ""}, test_lock, olive_lock) == [
        "pyproject test extra has uvicorn unpinned, pins.py 0.54.0"]
    assert lock.disagreements(pins, {**extra, "uvicorn": "==0.55.0"}, test_lock, olive_lock) == [
        "pyproject test extra has uvicorn==0.55.0, pins.py 0.54.0"]
    assert lock.disagreements(pins, extra, {**test_lock, "uvicorn": "0.55.0"}, olive_lock) == [
        "constraints/test.txt has uvicorn 0.55.0, pins.py 0.54.0"]
    assert lock.disagreements(pins, extra, test_lock, {}) == ["constraints/olive.txt has olive-ai missing, pins.py 0.13.0"]
    assert lock.disagreements(pins, {**extra, "rich": ""}, test_lock, olive_lock) == [
        "constraints/test.txt does not lock rich, a test extra package"]


def test_bump_rewrites_pins_and_extra_in_place(tmp_path, monkeypatch):
    pins_file, pyproject = tmp_path / "pins.py", tmp_path / "pyproject.toml"
    pins_file.write_text('PINS = {\n    "uvicorn": "0.54.0",  # serving\n    "torch": "2.13.0",\n}\n')
    pyproject.write_text('test = [\n    "uvicorn==0.54.0",\n    "torch==2.13.0",\n]\n')
    monkeypatch.setattr(lock, "PINS_FILE", pins_file)
    monkeypatch.setattr(lock, "PYPROJECT", pyproject)
    lock.set_versions({"uvicorn": "0.55.1"})
    assert pins_file.read_text() == 'PINS = {\n    "uvicorn": "0.55.1",  # serving\n    "torch": "2.13.0",\n}\n'
    assert pyproject.read_text() == 'test = [\n    "uvicorn==0.55.1",\n    "torch==2.13.0",\n]\n'


def test_the_running_environment_is_the_locked_one():
    """Under scripts/test.sh every locked package that is installed has exactly the locked version."""
    wrong = []
    for name, locked in {**lock.read_lock(lock.TEST_LOCK), **lock.read_lock(lock.OLIVE_LOCK)}.items():
        try:
            installed = version(name).split("+", 1)[0]
        except PackageNotFoundError:
            continue  # the Olive overlay's packages live in another venv
        if installed != locked:
            wrong.append(f"{name}: locked {locked}, installed {installed}")
    assert wrong == []
