"""TerraformRunner against the fake `terraform` (a real subprocess that follows Terraform's CLI and -json contract)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from gpuwatch_desktop.provisioning.model import ClusterSpec, ProgressKind, ProvisioningError
from gpuwatch_desktop.provisioning.terraform import TerraformRunner, find_terraform
from gpuwatch_desktop.provisioning.workspace import Workspace
from tests.fake_terraform import FAKE_BINARY, ProgressLog, put_fake_first_on_path

SPEC = ClusterSpec(name="lab", gpu_type="NVIDIA L40S", gpu_count=2, workers=2)
API_KEY = "rp-test-key-5f1e2d"
ENV = {"RUNPOD_API_KEY": API_KEY}
INIT = ["init", "-input=false", "-json"]
PLAN = ["plan", "-input=false", "-json", "-out=tfplan", "-var-file=cluster.tfvars.json"]
APPLY = ["apply", "-input=false", "-json", "tfplan"]
DESTROY = ["destroy", "-auto-approve", "-input=false", "-json", "-var-file=cluster.tfvars.json"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    put_fake_first_on_path(monkeypatch)
    workspace = Workspace(tmp_path, SPEC.name)
    workspace.prepare(SPEC)
    return workspace.path


def state_addresses(workdir: Path) -> list[str]:
    state = json.loads((workdir / "terraform.tfstate").read_text())
    return [
        f"{r['type']}.{r['name']}" + (f"[{i['index_key']}]" if "index_key" in i else "")
        for r in state["resources"] for i in r["instances"]
    ]  # fmt: skip


async def plan(runner: TerraformRunner, log: ProgressLog, env: dict[str, str] = ENV) -> None:
    async with runner.exclusive():
        assert (await runner.run(INIT, env, log)).ok
        outcome = await runner.run(PLAN, env, log, secrets=[API_KEY])
    assert outcome.ok, outcome.error_text()


def test_plan_apply_destroy_report_progress_from_the_json_messages(workdir: Path) -> None:
    runner = TerraformRunner(find_terraform(), workdir)

    async def scenario() -> None:
        planned, applied, destroyed = ProgressLog(), ProgressLog(), ProgressLog()
        await plan(runner, planned)
        assert [p.address for p in planned.of(ProgressKind.PLANNED)] == [
            "random_password.munge_key", "random_password.pod_token",
            "runpod_pod.head", "runpod_pod.worker[0]", "runpod_pod.worker[1]",
        ]  # fmt: skip
        async with runner.exclusive():
            outcome = await runner.run(APPLY, ENV, applied, total=5)
        assert outcome.ok and outcome.counts == {"add": 5, "change": 0, "remove": 0}
        completed = applied.of(ProgressKind.APPLY_COMPLETE)
        assert [p.done for p in completed] == [1, 2, 3, 4, 5] and all(p.total == 5 for p in completed)
        assert "runpod_pod.worker[1]: Creation complete" in completed[-1].message
        shown = await runner.read_json(["output", "-json"], ENV)
        assert [p["name"] for p in shown["pods"]["value"]] == ["lab-head", "lab-worker-1", "lab-worker-2"]
        async with runner.exclusive():
            outcome = await runner.run(DESTROY, ENV, destroyed)
        assert outcome.ok and outcome.counts["remove"] == 5
        assert [p.done for p in destroyed.of(ProgressKind.APPLY_COMPLETE)] == [1, 2, 3, 4, 5]
        assert [p.total for p in destroyed.of(ProgressKind.PLANNED)] == [1, 2, 3, 4, 5]

    asyncio.run(scenario())
    assert state_addresses(workdir) == []
    assert not (workdir / ".terraform.tfstate.lock.info").exists()


def test_an_apply_failing_half_way_keeps_what_was_created_in_the_state(workdir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    runner = TerraformRunner(find_terraform(), workdir)
    log = ProgressLog()

    async def scenario() -> None:
        await plan(runner, ProgressLog())
        monkeypatch.setenv("FAKE_TF_FAIL_ON", "runpod_pod.worker[0]")
        async with runner.exclusive():
            outcome = await runner.run(APPLY, ENV, log, total=5)
        assert not outcome.ok and not outcome.cancelled
        assert "runpod_pod.worker[0]: Error creating pod" in outcome.error_text()
        assert "no longer any instances available" in outcome.error_text()

    asyncio.run(scenario())
    errored = log.of(ProgressKind.APPLY_ERRORED)
    assert [p.address for p in errored] == ["runpod_pod.worker[0]"]
    assert any(p.severity == "error" and p.address == "runpod_pod.worker[0]" for p in log.of(ProgressKind.DIAGNOSTIC))
    assert "runpod_pod.head" in state_addresses(workdir) and "runpod_pod.worker[1]" in state_addresses(workdir)
    assert "runpod_pod.worker[0]" not in state_addresses(workdir)


def test_cancel_interrupts_lets_the_resource_in_flight_finish_and_waits_for_the_lock(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = TerraformRunner(find_terraform(), workdir)
    log = ProgressLog()

    async def scenario() -> None:
        await plan(runner, ProgressLog())
        monkeypatch.setenv("FAKE_TF_SLOW_S", "60")

        async def apply() -> object:
            async with runner.exclusive():
                return await runner.run(APPLY, ENV, log, total=5)

        task = asyncio.create_task(apply())
        await log.wait_for(ProgressKind.APPLY_START, "runpod_pod.head")
        assert runner.busy
        assert await runner.cancel() is True
        outcome = await task
        assert outcome.cancelled and not outcome.ok  # type: ignore[attr-defined]
        assert not runner.busy and await runner.cancel() is False

    asyncio.run(scenario())
    assert "Interrupt received." in log.text() and "Apply cancelled" in log.text()
    assert state_addresses(workdir) == ["random_password.munge_key", "random_password.pod_token", "runpod_pod.head"]
    assert not (workdir / ".terraform.tfstate.lock.info").exists()


def test_a_second_run_in_the_same_dir_is_refused_in_this_and_in_another_app_instance(workdir: Path) -> None:
    first = TerraformRunner(find_terraform(), workdir)
    other_window = TerraformRunner(find_terraform(), workdir)

    async def scenario() -> None:
        async with first.exclusive():
            with pytest.raises(ProvisioningError, match="already going on"):
                async with first.exclusive():
                    pass
            with pytest.raises(ProvisioningError, match="another gpuwatch window"):
                async with other_window.exclusive():
                    pass
        async with other_window.exclusive():  # free again once the first is done
            pass

    asyncio.run(scenario())


def test_a_state_lock_held_by_another_terraform_gives_its_error(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = TerraformRunner(find_terraform(), workdir)

    async def scenario() -> str:
        await plan(runner, ProgressLog())
        monkeypatch.setenv("FAKE_TF_SLOW_S", "60")
        outside = subprocess.Popen([str(FAKE_BINARY), *APPLY], cwd=workdir, stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, **ENV})
        try:
            assert outside.stdout is not None
            for line in outside.stdout:  # wait until it holds the lock and is creating
                if '"apply_start"' in line and "runpod_pod.head" in line:
                    break
            async with runner.exclusive():
                outcome = await runner.run(PLAN, ENV, ProgressLog())
        finally:
            outside.send_signal(signal.SIGINT)
            outside.communicate()
        assert not outcome.ok
        return outcome.error_text()

    error = asyncio.run(scenario())
    assert error.startswith("Error acquiring the state lock: Error message: resource temporarily unavailable")
    assert "runpod_pod.head" in state_addresses(workdir)  # the outside apply kept what it made


@pytest.mark.parametrize(("env", "tfvars", "expected"), [
    ({}, None, "Missing RunPod API Key: The provider cannot create the RunPod API client"),
    (ENV, {"workers": 99}, "Invalid value for variable: The number of workers must be from 0 to 16."),
    (ENV, {"gpu_count": "two"}, "Invalid value for input variable: The given value is not suitable for var.gpu_count"),
])
def test_bad_input_ends_with_terraforms_diagnostic(
    workdir: Path, env: dict[str, str], tfvars: dict[str, object] | None, expected: str
) -> None:
    if tfvars:
        path = workdir / "cluster.tfvars.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **tfvars}))
    runner = TerraformRunner(find_terraform(), workdir)
    log = ProgressLog()

    async def scenario() -> str:
        async with runner.exclusive():
            assert (await runner.run(INIT, env, log)).ok
            outcome = await runner.run(PLAN, env, log)
        assert not outcome.ok and not outcome.cancelled
        return outcome.error_text()

    assert expected in asyncio.run(scenario())
    assert any(p.kind == ProgressKind.DIAGNOSTIC and p.severity == "error" for p in log.items)
    assert not (workdir / "tfplan").exists()


def test_when_terraform_ignores_the_interrupt_a_second_one_ends_it_after_the_grace_period(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = TerraformRunner(find_terraform(), workdir, interrupt_grace_s=0.5, kill_grace_s=30)
    log = ProgressLog()

    async def scenario() -> None:
        await plan(runner, ProgressLog())
        monkeypatch.setenv("FAKE_TF_STUCK", "1")

        async def apply() -> object:
            async with runner.exclusive():
                return await runner.run(APPLY, ENV, log)

        task = asyncio.create_task(apply())
        await log.wait_for(ProgressKind.APPLY_START, "runpod_pod.head")
        await runner.cancel()
        outcome = await task
        assert outcome.cancelled  # type: ignore[attr-defined]

    asyncio.run(scenario())
    assert "Two interrupts received" in log.text()
    assert runner.state_lock_left()  # a hard stop leaves Terraform's lock note behind


def test_cancelling_the_task_interrupts_terraform_instead_of_orphaning_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = TerraformRunner(find_terraform(), workdir)
    log = ProgressLog()

    async def scenario() -> None:
        await plan(runner, ProgressLog())
        monkeypatch.setenv("FAKE_TF_SLOW_S", "60")

        async def apply() -> object:
            async with runner.exclusive():
                return await runner.run(APPLY, ENV, log)

        task = asyncio.create_task(apply())
        await log.wait_for(ProgressKind.APPLY_START, "runpod_pod.head")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert "runpod_pod.head" in state_addresses(workdir)
    assert not (workdir / ".terraform.tfstate.lock.info").exists()


def test_missing_binary_says_how_to_install_terraform_or_opentofu(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ProvisioningError, match=r"Neither terraform nor tofu was found on PATH: install Terraform"):
        find_terraform()
    with pytest.raises(ProvisioningError, match="'/opt/none/terraform' was not found"):
        find_terraform("/opt/none/terraform")
    assert find_terraform(str(FAKE_BINARY)) == str(FAKE_BINARY)


def test_a_cancel_between_two_commands_keeps_the_next_one_from_starting(workdir: Path) -> None:
    runner = TerraformRunner(find_terraform(), workdir)
    log = ProgressLog()

    async def scenario() -> None:
        async with runner.exclusive():
            assert await runner.cancel() is True
            outcome = await runner.run(INIT, ENV, log)
            assert outcome.cancelled and not outcome.ok
        async with runner.exclusive():  # a new sequence starts afresh
            assert (await runner.run(INIT, ENV, log)).ok

    asyncio.run(scenario())
    assert log.items[0].message == "Terraform 1.11.0"


def test_a_failing_progress_callback_interrupts_terraform_gracefully(workdir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    runner = TerraformRunner(find_terraform(), workdir)

    def fragile(progress: object) -> None:
        if getattr(progress, "kind", None) == ProgressKind.APPLY_START:
            raise RuntimeError("the window went away")

    async def scenario() -> None:
        await plan(runner, ProgressLog())
        monkeypatch.setenv("FAKE_TF_SLOW_S", "60")
        async with runner.exclusive():
            with pytest.raises(RuntimeError, match="the window went away"):
                await runner.run(APPLY, ENV, fragile)

    asyncio.run(scenario())
    assert state_addresses(workdir) == ["random_password.munge_key"]  # it stopped after the resource in flight
    assert not (workdir / ".terraform.tfstate.lock.info").exists()
