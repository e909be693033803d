"""Every dataset format and source trains from `ftstudio new`, with no template flag (CPU, tiny model).

Each case is a dataset a user could bring (sharegpt, prompt_completion as text or as lists of
messages, alpaca, alpaca in a CSV, messages in Parquet, a `datasets.save_to_disk` folder, other
column names read through `--map`), plus an `--eval-dataset` file and `eval_fraction=0`. For each,
`ftstudio new --target local` detects the format (train_config.json says which), then the project's
own fetch_model.py and train.py run from its root, as the local backend runs them.

The projects are independent, so one module-scoped fixture builds and trains them all two at a time
(train.py is mostly imports; the machine has two cores), and each test below reads its own case's
result: a failure names the case and carries its command's output.
"""
from __future__ import annotations

import csv
import json
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest

from tests.e2e.conftest import SYSTEM, ftstudio, run_script, tone_rows, write_jsonl

pytestmark = pytest.mark.e2e

ROWS_PER_TONE = 10  # 40 rows: enough for the default eval split (5%, from 20 rows on) to hold out 2
# Short runs: these tests are about reading the data, not about learning it.
SETTINGS = ("max_steps=4", "logging_steps=1", "save_steps=2", "per_device_train_batch_size=4",
            "source_max_len=64", "learning_rate=0.01", "lora_r=8", "lora_alpha=16", "lora_dropout=0",
            "warmup_steps=0")


# -- the datasets, each the tone rows in one format ----------------------------------------------
def sharegpt(rows: list[dict]) -> list[dict]:
    return [{"conversations": [{"from": "human", "value": r["phrase"]}, {"from": "gpt", "value": r["tone"]}],
             "system": SYSTEM} for r in rows]


def prompt_completion_text(rows: list[dict]) -> list[dict]:
    return [{"prompt": f"Message: {r['phrase']}\nTone: ", "completion": r["tone"]} for r in rows]


def prompt_completion_lists(rows: list[dict]) -> list[dict]:
    return [{"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": r["phrase"]}],
             "completion": [{"role": "assistant", "content": r["tone"]}]} for r in rows]


def alpaca(rows: list[dict]) -> list[dict]:
    return [{"instruction": SYSTEM, "input": r["phrase"], "output": r["tone"]} for r in rows]


def messages(rows: list[dict]) -> list[dict]:
    return [{"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": r["phrase"]},
                          {"role": "assistant", "content": r["tone"]}]} for r in rows]


def question_answer(rows: list[dict]) -> list[dict]:
    return [{"question": f"{SYSTEM}\n{r['phrase']}", "answer": r["tone"]} for r in rows]


def write_json_array(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), str(path))
    return path


def write_saved_dataset(path: Path, rows: list[dict]) -> Path:
    from datasets import Dataset

    Dataset.from_list(rows).save_to_disk(str(path))
    return path


@dataclass
class Case:
    name: str  # the test id and the project's name
    make: Callable[[Path], Path]  # writes the dataset under the folder given; its path
    expected_format: str
    new_args: tuple = ()  # more `ftstudio new` arguments (--map, --eval-dataset, --set ...)


def rows_file(writer: Callable[[Path, list[dict]], Path], name: str, shape: Callable[[list[dict]], list[dict]],
              seed: int = 7) -> Callable[[Path], Path]:
    return lambda folder: writer(folder / name, shape(tone_rows(ROWS_PER_TONE, seed)))


CASES = [
    Case("sharegpt-jsonl", rows_file(write_jsonl, "tones.jsonl", sharegpt), "sharegpt"),
    Case("prompt-completion-text-jsonl", rows_file(write_jsonl, "tones.jsonl", prompt_completion_text),
         "prompt_completion"),
    Case("prompt-completion-lists-json", rows_file(write_json_array, "tones.json", prompt_completion_lists),
         "prompt_completion"),
    Case("alpaca-jsonl", rows_file(write_jsonl, "tones.jsonl", alpaca), "alpaca"),
    Case("alpaca-csv", rows_file(write_csv, "tones.csv", alpaca), "alpaca"),
    Case("messages-parquet", rows_file(write_parquet, "tones.parquet", messages), "messages"),
    Case("messages-save-to-disk", rows_file(write_saved_dataset, "tones-saved", messages), "messages"),
    Case("mapped-question-answer", rows_file(write_jsonl, "qa.jsonl", question_answer), "alpaca",
         new_args=("--map", "instruction=question", "--map", "output=answer")),
]
EVAL_FILE_CASE = Case("eval-file", rows_file(write_jsonl, "tones.jsonl", alpaca), "alpaca",
                      new_args=("--eval-dataset", "{data}/tones-eval.jsonl"))
NO_EVAL_CASE = Case("eval-fraction-0", rows_file(write_jsonl, "tones.jsonl", alpaca), "alpaca",
                    new_args=("--set", "eval_fraction=0"))
ALL_CASES = [*CASES, EVAL_FILE_CASE, NO_EVAL_CASE]


@dataclass
class Outcome:
    """What happened to one case: the project, its train_config, each command's result."""

    case: Case
    project: Path
    config: Optional[dict] = None
    steps: dict = field(default_factory=dict)  # "new" | "fetch" | "train" -> CompletedProcess
    seconds: dict = field(default_factory=dict)
    error: Optional[str] = None  # an exception while building or running it

    def __repr__(self) -> str:  # short in assertion messages; explain() has the details
        return f"<Outcome {self.case.name}: " + ", ".join(f"{n} rc {d.returncode}" for n, d in self.steps.items()) + ">"

    def ok(self, *names: str) -> bool:
        """The named steps ran and succeeded (all of them when none is named)."""
        names = names or ("new", "fetch", "train")
        return self.error is None and all(n in self.steps and self.steps[n].returncode == 0 for n in names)

    def failed_step(self) -> Optional[str]:
        return next((name for name, done in self.steps.items() if done.returncode != 0), None)

    def explain(self) -> str:
        """The case, then the failed (or last) command's exit status and output tails."""
        name = self.failed_step() or (list(self.steps)[-1] if self.steps else None)
        lines = [f"case {self.case.name}: " + (f"{name} exited {self.steps[name].returncode}" if name else "not run")]
        if self.error:
            lines.append(self.error)
        if name:
            done = self.steps[name]
            lines += ["--- stdout (tail) ---", done.stdout[-2500:], "--- stderr (tail) ---", done.stderr[-2500:]]
        return "\n".join(lines)

    def metrics(self, run_id: str = "r1") -> dict:
        return json.loads((self.project / "outputs" / run_id / "metrics.json").read_text(encoding="utf-8"))


def settings(*extra: str) -> list[str]:
    return [arg for setting in (*SETTINGS, *extra) for arg in ("--set", setting)]


def build_and_train(case: Case, root: Path, model: Path) -> Outcome:
    data = root / "data" / case.name
    data.mkdir(parents=True)
    outcome = Outcome(case, root / case.name)
    try:
        dataset = case.make(data)
        if case is EVAL_FILE_CASE:
            write_jsonl(data / "tones-eval.jsonl", alpaca(tone_rows(2, seed=99)))
        extra = [arg.format(data=data) for arg in case.new_args]
        steps = (
            ("new", lambda: ftstudio("new", case.name, "--model", str(model), "--target", "local", "--dir", str(root),
                                     "--dataset", str(dataset), *settings(), *extra, "--non-interactive",
                                     timeout=300)),
            ("fetch", lambda: run_script(outcome.project, "finetuning/fetch_model.py")),
            ("train", lambda: run_script(outcome.project, "finetuning/train.py", run_id="r1")),
        )
        for name, run in steps:
            started = time.monotonic()
            outcome.steps[name] = run()
            outcome.seconds[name] = round(time.monotonic() - started, 1)
            if outcome.steps[name].returncode != 0:
                break
            if name == "new":
                outcome.config = json.loads((outcome.project / "finetuning/train_config.json").read_text())
    except Exception:  # noqa: BLE001 - a timeout, an unwritable dataset...: this case fails, not the others
        outcome.error = traceback.format_exc(limit=-3)
    return outcome


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, tiny_model) -> dict[str, Outcome]:
    """Every case built with `ftstudio new` and trained, two at a time."""
    root = tmp_path_factory.mktemp("formats")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case.name: pool.submit(build_and_train, case, root, tiny_model) for case in ALL_CASES}
        done = {name: future.result() for name, future in futures.items()}
    for name, outcome in done.items():  # the time each step took, shown with -s or on a failure
        print(f"{name}: {outcome.seconds}")
    return done


def trained(outcome: Outcome) -> dict:
    """The case's metrics.json, after checking that every step succeeded."""
    assert outcome.ok(), outcome.explain()
    return outcome.metrics()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_format_is_detected_and_trains(outcomes, case):
    outcome = outcomes[case.name]
    assert outcome.ok("new"), outcome.explain()
    dataset = outcome.config["dataset"]
    assert dataset["format"] == case.expected_format, f"{dataset}\n{outcome.steps['new'].stdout}"
    assert "text_template" not in dataset or dataset["text_template"] is None, dataset
    assert (outcome.project / dataset["train_file"]).exists(), dataset  # copied into the project
    if "--map" in case.new_args:
        assert dataset["column_map"] == {"instruction": "question", "output": "answer"}, dataset

    metrics = trained(outcome)
    assert metrics["status"] == "succeeded" and metrics["steps"] == 4, (metrics, outcome.explain())
    assert metrics["dataset_format"] == case.expected_format, metrics
    # plain prompt/completion text is served as text; every other format through the chat template
    assert metrics["prompt_style"] == ("plain" if case.name == "prompt-completion-text-jsonl" else "chat"), metrics
    assert len(metrics["losses"]) == 4 and all(loss > 0 for _, loss in metrics["losses"]), metrics
    assert metrics["eval_losses"], (metrics, outcome.explain())  # 40 rows: the default split held some out
    run = outcome.project / "outputs/r1"
    assert (run / "adapter_model.safetensors").stat().st_size > 0 and (run / "adapter_config.json").is_file()
    train_log = outcome.steps["train"].stdout
    assert f"{case.expected_format} rows from" in train_log and "held out for eval" in train_log, train_log[-2000:]


@pytest.mark.timeout(900)
def test_eval_dataset_file_gives_the_eval_loss(outcomes):
    outcome = outcomes[EVAL_FILE_CASE.name]
    assert outcome.ok("new"), outcome.explain()
    assert outcome.config["dataset"]["eval_file"] == "dataset/tones-eval.jsonl", outcome.config["dataset"]
    assert (outcome.project / "dataset/tones-eval.jsonl").is_file()
    metrics = trained(outcome)
    assert metrics["status"] == "succeeded" and metrics["dataset_format"] == "alpaca", metrics
    assert metrics["eval_losses"] and all(loss > 0 for _, loss in metrics["eval_losses"]), metrics
    assert metrics["eval_losses"][-1][0] == 4, metrics  # the final adapter's eval loss too
    log = outcome.steps["train"].stdout
    assert "8 eval rows from dataset/tones-eval.jsonl" in log, log[-2000:]  # not a held-out split
    assert "held out for eval" not in log
    assert "eval_loss" in log and "step 4/4 eval_loss" in log, log[-2000:]


@pytest.mark.timeout(900)
def test_default_eval_split_is_taken_and_eval_fraction_0_takes_none(outcomes):
    held_out = outcomes["alpaca-jsonl"]  # the same 40 rows, default settings
    metrics = trained(held_out)
    assert metrics["eval_losses"], metrics
    log = held_out.steps["train"].stdout
    assert "40 alpaca rows from dataset/tones.jsonl (2 held out for eval)" in log, log[-2000:]
    assert "eval_loss" in log

    none = outcomes[NO_EVAL_CASE.name]
    assert none.ok("new"), none.explain()
    assert none.config["dataset"]["eval_fraction"] == 0, none.config["dataset"]
    metrics = trained(none)
    assert metrics["status"] == "succeeded" and metrics["eval_losses"] == [], metrics
    log = none.steps["train"].stdout
    assert "40 alpaca rows from dataset/tones.jsonl" in log and "held out" not in log, log[-2000:]
    assert "eval_loss" not in log


def test_bad_csv_row_is_refused_by_new_naming_the_row(tmp_path, tiny_model):
    rows = alpaca(tone_rows(5))
    rows[6]["output"] = ""  # the 7th row: nothing to train on
    dataset = write_csv(tmp_path / "tones.csv", rows)
    made = ftstudio("new", "bad", "--model", str(tiny_model), "--target", "local", "--dir", str(tmp_path),
                    "--dataset", str(dataset), *settings(), "--non-interactive", timeout=300)
    assert made.returncode == 2, made.stdout + made.stderr
    # CSV rows are numbered from the first row under the header, and called rows (not the file's lines)
    assert "tones.csv row 7: the output is empty" in made.stderr, made.stderr
    assert not (tmp_path / "bad").exists()  # nothing written
