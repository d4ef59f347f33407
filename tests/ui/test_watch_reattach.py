"""Training outlives the app: start a run from the Training screen, quit, check the trainer
still runs, come back with `watch NAME`, see it going on, stop it."""

from __future__ import annotations

from conftest import run_app, wait_for
from live_trainers import TRAIN_FIELDS, alive, kill_trainers, run_status, wait_gone
from textual.widgets import Input

from slavik_tui.store.lock import lock_holder
from slavik_tui.ui.app import SlavikApp, background_trainers_note
from slavik_tui.ui.screens.training import TrainingScreen


def test_a_run_outlives_the_app_and_watch_reattaches(models_root):
    started: dict[str, int] = {}

    async def first_session(app, pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.live.snapshot is not None)
        for key, value in TRAIN_FIELDS.items():
            screen.form.query_one(f"#tf-{key}", Input).value = value
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.live.progress.status == "running"
                       and screen.live.progress.run_id == 2, timeout=30)
        started["pid"] = screen.live.live_pid
        started["steps"] = screen.panel.series_lengths()["loss"]
        await pilot.press("q")  # quit while it trains

    async def second_session(app, pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.live.progress.status == "running", timeout=10)
        assert screen.live.live_pid == started["pid"] and screen.live.progress.run_id == 2
        loaded = screen.panel.series_lengths()["loss"]
        assert loaded > started["steps"]  # it trained while nobody watched
        await wait_for(pilot, lambda: screen.panel.series_lengths()["loss"] > loaded + 5,
                       timeout=15)  # and new points keep arriving
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen.live.progress.status == "stopped", timeout=30)

    try:
        app = run_app(models_root, first_session, watch="tiny")
        pid = started["pid"]
        # what `slavik-tui` prints after the app closes
        assert background_trainers_note(app.workspace) == (
            f"training of tiny goes on in the background (pid {pid}); "
            "come back with `slavik-tui watch tiny`")
        assert alive(pid), "the trainer died with the app"
        assert lock_holder(models_root / "tiny") == pid
        run_app(models_root, second_session, size=(120, 40), watch="tiny")
        assert wait_gone(pid, timeout=15)
        assert run_status(models_root, "tiny", 2) == "stopped"
    finally:
        assert kill_trainers(models_root) == []  # nothing left running
