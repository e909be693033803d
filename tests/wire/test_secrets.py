"""Job and inference app secrets against the fake Azure: set/list/get/remove keep the other secrets
and the template intact, HF_TOKEN becomes hf-token, bad names are refused, errors are scrubbed."""
from __future__ import annotations

import copy

import pytest

from core.errors import FtError, InputError, OperationFailed
from tests.wire.test_logs_env import APP, HF_VALUE, JOB, OTHER_VALUE, RG, logs_env  # noqa: F401 - fixture

NEW_VALUE = "wandb_Kq9PzLm3Xv7Rt2Yy"


def _without_env(template: dict) -> dict:
    t = copy.deepcopy(template)
    t.pop("revisionSuffix", None)
    for key in ("containers", "initContainers"):
        for c in t.get(key) or []:
            c.pop("env", None)
    return t


def _envs(template: dict) -> list[list[dict]]:
    return [c.get("env") or [] for key in ("initContainers", "containers") for c in template.get(key) or []]


@pytest.mark.parametrize("inference", [False, True], ids=["job", "app"])
def test_set_adds_a_secret_and_its_env_var_everywhere_and_keeps_the_rest(logs_env, inference):
    read = logs_env.app if inference else logs_env.job
    secrets = logs_env.app_secrets if inference else logs_env.job_secrets
    before = read()
    backend = logs_env.backend()
    backend.secret_set("WANDB_API_KEY", NEW_VALUE, inference=inference)
    after = read()
    assert secrets() == {"hf-token": HF_VALUE, "other-key": OTHER_VALUE, "wandb-api-key": NEW_VALUE}
    t0, t1 = before["properties"]["template"], after["properties"]["template"]
    assert _without_env(t1) == _without_env(t0)  # images, commands, resources, volumes, mounts untouched
    for old_env, new_env in zip(_envs(t0), _envs(t1)):
        assert new_env == old_env + [{"name": "WANDB_API_KEY", "secretRef": "wandb-api-key"}]
    cfg0 = {k: v for k, v in before["properties"]["configuration"].items() if k != "secrets"}
    cfg1 = {k: v for k, v in after["properties"]["configuration"].items() if k != "secrets"}
    assert cfg1 == cfg0
    assert sorted(backend.secret_list(inference=inference)) == ["HF_TOKEN", "WANDB_API_KEY", "other-key"]
    assert backend.secret_get("WANDB_API_KEY", inference=inference) == NEW_VALUE
    assert backend.secret_get("wandb-api-key", inference=inference) == NEW_VALUE  # the stored name works too


def test_hf_token_becomes_hf_token_secret(logs_env):
    backend = logs_env.backend()
    backend.secret_set("HF_TOKEN", NEW_VALUE)  # replace the value of an existing one
    assert logs_env.job_secrets() == {"hf-token": NEW_VALUE, "other-key": OTHER_VALUE}
    for env in _envs(logs_env.job()["properties"]["template"]):
        assert [e for e in env if e["name"] == "HF_TOKEN"] == [{"name": "HF_TOKEN", "secretRef": "hf-token"}]
    # an execution started afterwards sees the new value
    logs_env.fake.jobs.script(JOB, lines=lambda env: [f"token={env.get('HF_TOKEN')}"], line_interval=0.001)
    name = logs_env.start()
    from tests.wire.test_logs import collect, texts

    assert texts(collect(backend.logs(execution=name))) == ["token=***"]


def test_remove_drops_the_secret_and_its_env_var_from_every_container(logs_env):
    before = logs_env.job()
    backend = logs_env.backend()
    backend.secret_remove("HF_TOKEN")
    after = logs_env.job()
    assert logs_env.job_secrets() == {"other-key": OTHER_VALUE}
    for env in _envs(after["properties"]["template"]):
        assert env == [{"name": "HF_HOME", "value": "/mount/.cache/huggingface"}]
    assert _without_env(after["properties"]["template"]) == _without_env(before["properties"]["template"])
    assert backend.secret_list() == ["other-key"]
    with pytest.raises(InputError) as e:
        backend.secret_get("HF_TOKEN")
    assert "secret list" in e.value.one_line()
    with pytest.raises(InputError):
        backend.secret_remove("HF_TOKEN")


def test_app_secret_changes_roll_a_working_revision(logs_env):
    import time

    backend = logs_env.backend()
    rev0 = logs_env.app()["properties"]["latestRevisionName"]
    backend.secret_set("API_KEY", NEW_VALUE, inference=True)  # new env var: a new revision
    app = logs_env.app()
    rev1 = app["properties"]["latestRevisionName"]
    assert rev1 != rev0
    revision = logs_env.apps.container_apps_revisions.get_revision(RG, APP, rev1).as_dict()["properties"]
    assert [e for e in revision["template"]["containers"][0]["env"] if e["name"] == "API_KEY"] == \
        [{"name": "API_KEY", "secretRef": "api-key"}]
    deadline = time.monotonic() + 5
    while logs_env.apps.container_apps_revisions.get_revision(RG, APP, rev1).properties.health_state != "Healthy":
        assert time.monotonic() < deadline, "the new revision never became healthy"
        time.sleep(0.02)
    # a new value for an existing secret: no template change, so the revision restarts instead
    restarts = logs_env.fake.requests.count("POST", r"/restart$")
    backend.secret_set("API_KEY", "a-second-value-123", inference=True)
    assert logs_env.app()["properties"]["latestRevisionName"] == rev1
    assert logs_env.fake.requests.count("POST", r"/restart$") == restarts + 1
    assert logs_env.app_secrets()["api-key"] == "a-second-value-123"
    # the same value again changes nothing
    patches = logs_env.fake.requests.count("PATCH")
    backend.secret_set("API_KEY", "a-second-value-123", inference=True)
    assert logs_env.fake.requests.count("PATCH") == patches


@pytest.mark.parametrize("name", ["1ABC", "my secret", "A" * 254, "a_", "-x", "x" * 300, "", "Ä_TOKEN"])
def test_bad_names_are_refused_before_any_request(logs_env, name):
    n = len(logs_env.fake.requests)
    with pytest.raises(InputError) as e:
        logs_env.backend().secret_set(name, NEW_VALUE)
    assert e.value.field == "NAME" and e.value.exit_code == 2
    assert "HF_TOKEN" in e.value.one_line() or "hf-token" in e.value.one_line()
    assert len(logs_env.fake.requests) == n


def test_a_too_short_value_is_refused(logs_env):
    with pytest.raises(InputError) as e:
        logs_env.backend().secret_set("HF_TOKEN", "ab")
    assert e.value.field == "HF_TOKEN" and "ab" not in e.value.one_line().replace("at least", "")


def test_secret_in_use_elsewhere_is_not_removed(logs_env):
    body = {"properties": {"configuration": {"secrets": [{"name": "hf-token", "value": HF_VALUE},
                                                         {"name": "other-key", "value": OTHER_VALUE}],
                                             "registries": [{"server": "myreg.azurecr.io", "username": "u",
                                                             "passwordSecretRef": "other-key"}]}}}
    logs_env.apps.jobs.begin_update(RG, JOB, body).result()
    with pytest.raises(InputError) as e:
        logs_env.backend().secret_remove("other-key")
    assert "registry myreg.azurecr.io" in e.value.one_line()
    assert logs_env.job_secrets()["other-key"] == OTHER_VALUE


def test_errors_echoing_values_are_scrubbed(logs_env):
    fake = logs_env.fake
    fake.faults.add("PATCH", r"/jobs/ft-logs-job$", 400, code="InvalidSecret",
                    message=f"Secret value '{NEW_VALUE}' rejected; others: {HF_VALUE} {OTHER_VALUE}", times=1)
    with pytest.raises(OperationFailed) as e:
        logs_env.backend().secret_set("NEW_ONE", NEW_VALUE)
    err = e.value
    text = " ".join([str(err), err.one_line(), repr(err.to_json()), repr(err.__context__), repr(err.__cause__)])
    assert "InvalidSecret" in text and "***" in text
    for value in (NEW_VALUE, HF_VALUE, OTHER_VALUE):
        assert value not in text
    assert err.__context__ is None and err.__cause__ is None  # no chained SDK error holding the body
    assert logs_env.job_secrets() == {"hf-token": HF_VALUE, "other-key": OTHER_VALUE}  # nothing half-written


def test_missing_app_config_names_the_key(logs_env):
    (logs_env.root / "infra" / "inference.config.json").write_text("{}")
    with pytest.raises(InputError) as e:
        logs_env.backend().secret_list(inference=True)
    assert e.value.field == "ACA_APP_NAME"


def test_a_missing_job_is_an_input_error(logs_env):
    logs_env.apps.jobs.begin_delete(RG, JOB).result()
    with pytest.raises(FtError) as e:
        logs_env.backend().secret_list()
    assert e.value.field == "ACA_JOB_NAME"
