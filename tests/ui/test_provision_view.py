"""The Provision tab's widget: the form's validation and live cost, the plan summary, the destroy question, the
run states (Apply only after a plan of the form as it is, Cancel only while a run goes), the bounded log."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from gpuwatch_desktop.provisioning.model import (
    ChangeAction,
    ClusterSpec,
    PlannedChange,
    PlanSummary,
    PodInfo,
    Progress,
    ProgressKind,
    RunResult,
)
from gpuwatch_desktop.ui.pod_dialogs import accept_button
from gpuwatch_desktop.ui.provision_panels import price_estimate
from gpuwatch_desktop.ui.provision_view import LOG_LINES, ProvisionView

PRICES = {"NVIDIA A100 80GB PCIe": 1.64, "NVIDIA H100 80GB HBM3": 2.99, "NVIDIA RTX A6000": 0.49}


def make_view(qtbot: QtBot, prices: dict[str, float] | None = None) -> ProvisionView:
    table = PRICES if prices is None else prices
    view = ProvisionView(table, price_estimate(table), prices_note="Prices from gpu_prices.yaml.")
    qtbot.addWidget(view)
    view.show()
    return view


def fill(view: ProvisionView, gpu: str = "NVIDIA H100 80GB HBM3", gpus: int = 2, workers: int = 2) -> None:
    form = view.form
    form.name_combo.setEditText("lab")
    form.gpu_combo.setCurrentIndex(form.gpu_combo.findData(gpu))
    form.gpu_count_spin.setValue(gpus)
    form.workers_spin.setValue(workers)


def three_pod_plan() -> PlanSummary:
    changes = (PlannedChange("random_password.pod_token", "random_password", "pod_token", ChangeAction.CREATE),
               PlannedChange("runpod_pod.head", "runpod_pod", "head", ChangeAction.CREATE),
               PlannedChange("runpod_pod.worker[0]", "runpod_pod", "worker", ChangeAction.CREATE),
               PlannedChange("runpod_pod.worker[1]", "runpod_pod", "worker", ChangeAction.CREATE))
    return PlanSummary(changes, add=4, change=0, remove=0, cost_per_hour=17.94)


def pods() -> tuple[PodInfo, ...]:
    return (PodInfo("p-head", "lab-head", "head", "NVIDIA H100 80GB HBM3", 2, 5.98,
                    {9400: "https://p-head-9400.proxy.runpod.net"}),
            PodInfo("p-w0", "lab-worker-0", "worker", "NVIDIA H100 80GB HBM3", 2, 5.98, {}))


def test_gpu_types_come_from_the_price_table_cheapest_first(qtbot: QtBot) -> None:
    view = make_view(qtbot)
    combo = view.form.gpu_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "NVIDIA RTX A6000 — $0.49/GPU/h", "NVIDIA A100 80GB PCIe — $1.64/GPU/h", "NVIDIA H100 80GB HBM3 — $2.99/GPU/h"]


def test_the_estimate_follows_every_edit(qtbot: QtBot) -> None:
    view = make_view(qtbot)
    fill(view, gpus=2, workers=2)
    assert view.form.estimate_label.text() == ("Estimated $17.94/h ($430.56/day): 3 pods × 2 GPUs at "
                                               "$2.99/GPU/h")
    view.form.workers_spin.setValue(0)
    view.form.gpu_count_spin.setValue(1)
    assert view.form.estimate_label.text().startswith("Estimated $2.99/h ($71.76/day): 1 pod × 1 GPU at")


def test_an_invalid_form_says_what_to_fix_and_cannot_be_planned(qtbot: QtBot) -> None:
    view = make_view(qtbot)
    fill(view)
    view.form.name_combo.setEditText("My Cluster!")
    assert view.form.error_label.text().startswith("Fix: cluster name 'My Cluster!': use 1-40 lower-case letters")
    assert view.form.estimate_label.text() == "Estimated cost: —"
    assert not view.plan_button.isEnabled()
    view.form.name_combo.setEditText("lab")
    view.form.model_edit.setText("Qwen 2.5")
    assert "a Hugging Face model id has no spaces" in view.form.error_label.text()
    view.form.model_edit.setText("Qwen/Qwen2.5-7B-Instruct")
    assert view.form.error_label.text() == "" and view.plan_button.isEnabled()


def test_an_empty_price_table_is_explained(qtbot: QtBot) -> None:
    view = make_view(qtbot, prices={})
    assert "price table (gpu_prices.yaml) is empty or unreadable" in view.form.error_label.text()
    assert not view.plan_button.isEnabled()


def test_plan_emits_the_spec_and_the_summary_lists_each_change(qtbot: QtBot) -> None:
    view = make_view(qtbot)
    fill(view)
    assert not view.apply_button.isEnabled()  # nothing planned yet
    with qtbot.waitSignal(view.planRequested) as planned:
        view.plan_button.click()
    spec = planned.args[0]
    assert spec == ClusterSpec("lab", "NVIDIA H100 80GB HBM3", 2, 2)
    view.set_running("plan")
    assert not view.plan_button.isEnabled() and view.cancel_button.isEnabled()
    assert not view.form.gpu_combo.isEnabled()
    view.show_plan(spec, three_pod_plan())
    view.set_running(None)
    assert view.plan_panel.summary_label.text() == ("Plan: 4 to add, 0 to change, 0 to destroy. After apply the "
                                                    "cluster costs about $17.94/h.")
    model = view.plan_panel.model
    assert [model.index(r, 1).data() for r in range(model.rowCount())] == [
        "random_password.pod_token", "runpod_pod.head", "runpod_pod.worker[0]", "runpod_pod.worker[1]"]
    assert model.index(1, 0).data() == "+ create"
    assert view.apply_button.isEnabled() and not view.cancel_button.isEnabled()


def test_editing_after_a_plan_disables_apply_until_planned_again(qtbot: QtBot) -> None:
    view = make_view(qtbot)
    fill(view)
    view.show_plan(view.form.spec(), three_pod_plan())
    view.form.workers_spin.setValue(5)
    assert not view.apply_button.isEnabled()
    assert "The form changed since: press Plan again" in view.plan_panel.summary_label.text()
    view.form.workers_spin.setValue(2)  # back as planned
    assert view.apply_button.isEnabled()


def test_progress_fills_the_bar_and_streams_the_log(qtbot: QtBot) -> None:
    view = make_view(qtbot)
    fill(view)
    view.show_plan(view.form.spec(), three_pod_plan())
    with qtbot.waitSignal(view.applyRequested):
        view.apply_button.click()
    view.set_running("apply")
    assert view.progress_bar.maximum() == 0  # busy until a total is known
    view.show_progress(Progress(ProgressKind.APPLY_START, "runpod_pod.head: Creating...", "runpod_pod.head", 0, 4))
    view.show_progress(Progress(ProgressKind.APPLY_COMPLETE, "runpod_pod.head: Creation complete after 41s",
                                "runpod_pod.head", 2, 4))
    view.show_progress(Progress(ProgressKind.DIAGNOSTIC, "Provider produced a warning", severity="warning"))
    assert (view.progress_bar.value(), view.progress_bar.maximum()) == (2, 4)
    assert view.status_label.text() == "runpod_pod.head: Creation complete after 41s"
    log = view.log_edit.toPlainText().splitlines()
    assert log[-3:] == ["runpod_pod.head: Creating...", "runpod_pod.head: Creation complete after 41s",
                        "Warning: Provider produced a warning"]
    with qtbot.waitSignal(view.cancelRequested):
        view.cancel_button.click()
    view.show_result("apply", RunResult(False, True, "Cancelled: 2 of 4 resources were created; Apply again or "
                                                     "Destroy.", pods()[:1]))
    view.set_running(None)
    assert view.banner.isHidden()  # a cancel the user asked for is not an error
    assert not view.apply_button.isEnabled()  # the plan was used


def test_a_failed_apply_shows_its_message_in_the_banner(qtbot: QtBot) -> None:
    view = make_view(qtbot)
    fill(view)
    view.show_plan(view.form.spec(), three_pod_plan())
    view.set_running("apply")
    view.show_result("apply", RunResult(False, False, "RunPod has no NVIDIA H100 80GB HBM3 free in SECURE cloud: "
                                                      "try COMMUNITY or another GPU type."))
    view.set_running(None)
    assert view.banner.isVisible() and "try COMMUNITY" in view.banner.text()


def test_the_log_is_bounded(qtbot: QtBot) -> None:
    view = make_view(qtbot)
    for i in range(LOG_LINES + 500):
        view.show_progress(Progress(ProgressKind.LOG, f"line {i}"))
    assert view.log_edit.document().blockCount() == LOG_LINES
    assert view.log_edit.toPlainText().splitlines()[-1] == f"line {LOG_LINES + 499}"


def test_pods_show_with_their_running_cost(qtbot: QtBot) -> None:
    view = make_view(qtbot)
    view.show_pods("lab", pods())
    assert view.pods_panel.cost_label.text() == "Cluster “lab”: 2 pods running · $11.96/h"
    model = view.pods_panel.model
    assert [model.index(0, c).data() for c in range(6)] == [
        "lab-head", "head", "2 × NVIDIA H100 80GB HBM3", "$5.98", "p-head", "https://p-head-9400.proxy.runpod.net"]
    view.show_pods("lab", ())
    assert view.pods_panel.cost_label.text() == "Cluster “lab”: no pods."


def test_destroy_asks_naming_every_pod_and_the_cost_it_stops(qtbot: QtBot) -> None:
    view = make_view(qtbot)
    fill(view)
    assert not view.destroy_button.isEnabled()  # "lab" does not exist yet
    view.set_clusters(["lab"])
    with qtbot.waitSignal(view.destroyRequested) as requested:
        view.destroy_button.click()
    assert requested.args == ["lab"]
    view.confirm_destroy("lab", pods(), 11.96)
    box = view.confirmation
    assert box is not None and box.isVisible()
    assert box.text() == (
        "Destroy cluster “lab”? This terminates 2 pods and stops $11.96/h:\n\n"
        "• lab-head (p-head): 2 × NVIDIA H100 80GB HBM3, $5.98/h\n"
        "• lab-worker-0 (p-w0): 2 × NVIDIA H100 80GB HBM3, $5.98/h\n\n"
        "Their volumes and everything on them are deleted. This cannot be undone.")
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)  # Enter does not destroy
    with qtbot.assertNotEmitted(view.destroyConfirmed):
        box.button(QMessageBox.StandardButton.Cancel).click()
    view.confirm_destroy("lab", pods(), 11.96)
    assert view.confirmation is not None
    with qtbot.waitSignal(view.destroyConfirmed) as confirmed:
        accept_button(view.confirmation).click()  # type: ignore[attr-defined]
    assert confirmed.args == ["lab"]


def test_no_second_run_can_be_asked_for_while_one_goes(qtbot: QtBot) -> None:
    view = make_view(qtbot)
    fill(view)
    view.set_clusters(["lab"])
    view.show_plan(view.form.spec(), three_pod_plan())
    view.set_running("apply")
    assert [b.isEnabled() for b in (view.plan_button, view.apply_button, view.destroy_button)] == [False] * 3
    assert view.cancel_button.isEnabled()
