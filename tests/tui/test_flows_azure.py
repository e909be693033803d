"""Pilot flows over the REAL Azure backend and SDK clients against the fake Azure (``azure_env``):
the provision wizard (subscription → new resource group → GPU location → preview → apply), a run
whose logs stream to the end (the fake's job simulator), a job secret, and inference deploy."""
from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from textual.widgets import DataTable, Input, OptionList

from scaffolds.project import Project
from tests.tui.helpers import wait_for, wait_workers
from tui.app import FtStudioApp

pytestmark = [pytest.mark.asyncio, pytest.mark.wire]


def generated(home, name="tones"):
    from scaffolds.generate import ProjectSpec
    from usecases.projects import generate_project

    result = generate_project(ProjectSpec(name=name, model="microsoft/Phi-3-mini-4k-instruct",
                                          parent=home / "projects", target="azure"))
    return Project(result.path)


def option_ids(screen, selector):
    options = screen.query_one(selector, OptionList)
    return [options.get_option_at_index(i).id for i in range(options.option_count)]


async def pick(pilot, screen, selector, value):
    assert await wait_for(pilot, lambda: value in option_ids(screen, selector), timeout=60), \
        (option_ids(screen, selector), str(screen.query_one("#wizard-status").render()))
    options = screen.query_one(selector, OptionList)
    options.focus()
    options.highlighted = option_ids(screen, selector).index(value)
    await pilot.press("enter")
    await wait_workers(pilot)
    await pilot.pause()


async def provision(pilot, app, kind, fake, *, group="rg-tui", new_group=True):
    await app.run_action("provision_finetuning" if kind == "finetuning" else "provision_inference")
    await wait_workers(pilot)
    await pilot.pause()
    wizard = app.screen
    assert type(wizard).__name__ == "ProvisionScreen"
    await pick(pilot, wizard, "#subscriptions", fake.subscription_id)
    assert wizard.page == "group"
    if new_group:
        await pick(pilot, wizard, "#groups", "__new__")
        await pilot.press(*group, "enter")
    else:
        await pick(pilot, wizard, "#groups", group)
    await wait_workers(pilot)
    await pilot.pause()
    assert wizard.page == "location"
    locations = option_ids(wizard, "#locations")
    assert locations and "westus3" in locations
    await pick(pilot, wizard, "#locations", "westus3")
    assert await wait_for(pilot, lambda: wizard.page == "preview", timeout=60), \
        str(wizard.query_one("#wizard-status").render())
    return wizard


@asynccontextmanager
async def finetuning_preview(home, fake):
    """(project, app, pilot, wizard): a generated project's app at 160x48 with the fine-tuning
    wizard walked to its preview page."""
    project = generated(home)
    app = FtStudioApp(project=project)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_workers(pilot)
        yield project, app, pilot, await provision(pilot, app, "finetuning", fake)


async def test_provision_with_preview_then_run_and_follow_logs(home, azure_env):
    fake = azure_env
    async with finetuning_preview(home, fake) as (project, app, pilot, wizard):
        plan = {(c.resource, c.action) for c in wizard.plan}
        assert ("job", "create") in plan and ("storage", "create") in plan
        assert wizard.query_one("#plan-table", DataTable).row_count == len(wizard.plan)
        writes_before = fake.requests.count(method="PUT")
        assert writes_before == 0  # the preview wrote nothing
        await pilot.click("#apply-button")
        assert await wait_for(pilot, lambda: wizard.applied or "failed" in str(
            wizard.query_one("#apply-result").render()), timeout=120), (
            wizard.page, str(wizard.query_one("#apply-result").render()), str(wizard.query_one("#apply-steps").render()))
        assert wizard.applied, str(wizard.query_one("#wizard-status").render())
        steps = wizard.query_one("#apply-steps")
        assert steps.steps and not steps.failed
        assert project.finetuning_config().get("ACA_JOB_NAME")
        await pilot.click("#done")
        await wait_workers(pilot)

        # run: the fake's job simulator prints these lines
        fake.jobs.script(lines=[f"step {i} loss {2 - i / 100:.3f}" for i in range(200)] + ["training done"],
                         line_interval=0.001)
        await pilot.press("ctrl+r")
        assert await wait_for(pilot, lambda: type(app.screen).__name__ == "LogsScreen", timeout=120)
        logs = app.screen
        assert await wait_for(pilot, lambda: logs.ended, timeout=120)
        lines = logs.view.lines
        assert logs.view.status == "Succeeded", lines[-5:]
        assert any("step 0 loss" in line for line in lines) and any("training done" in line for line in lines)


async def test_job_secret_and_inference_deploy(home, azure_env):
    fake = azure_env
    async with finetuning_preview(home, fake) as (project, app, pilot, wizard):
        await pilot.click("#apply-button")
        assert await wait_for(pilot, lambda: wizard.applied, timeout=120)
        await pilot.click("#done")

        await app.run_action("add_secret")
        await pilot.pause()
        await pilot.press(*"HF_TOKEN", "enter", *"hf_topsecret123", "enter")
        await wait_workers(pilot)
        await pilot.pause()
        assert "HF_TOKEN" in app.screen.names
        assert "hf_topsecret123" not in app.export_screenshot()
        from infra.backend import open_backend

        assert open_backend(project).secret_get("HF_TOKEN") == "hf_topsecret123"  # stored on the job
        await pilot.press("escape")
        await wait_workers(pilot)

        wizard = await provision(pilot, app, "inference", fake, group="rg-tui", new_group=False)
        await pilot.click("#apply-button")
        assert await wait_for(pilot, lambda: wizard.applied or "failed" in str(
            wizard.query_one("#apply-result").render()), timeout=120)
        assert wizard.applied, str(wizard.query_one("#wizard-status").render())
        await pilot.click("#done")
        await wait_workers(pilot)
        assert project.inference_config().get("ACA_APP_NAME")

        await app.run_action("deploy")
        dashboard = app.screen
        assert await wait_for(pilot, lambda: "deploy" not in dashboard._busy, timeout=120)
        endpoint = str(dashboard.query_one("#endpoint").render())
        assert dashboard.endpoint and dashboard.endpoint.startswith("https://"), \
            str(dashboard.query_one("#activity").render())
        assert dashboard.endpoint in endpoint
