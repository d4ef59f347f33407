"""Drive slavik-tui in a real terminal (tmux) the way a person does, and read the screen back.

`TmuxSession` runs a command in a detached tmux session on a private server socket (so it
never touches the user's own tmux), types keys into it and captures the pane as text.
`training_scenario` is the end-to-end story of the Training screen: open the app, start a run,
watch it, zoom, hide a series, save the chart, lose the terminal, come back with `watch`,
stop the run. The pytest test (test_tmux.py) calls it; by hand:

    python tests/e2e/tmux_session.py MODELS_DIR [CAPTURES_DIR]

(MODELS_DIR must hold a model named `tiny`.)
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class TmuxSession:
    """One tmux server (private socket) with one session running `command`."""

    def __init__(self, command: list[str], width: int = 120, height: int = 40,
                 env: dict[str, str] | None = None, socket: str | None = None) -> None:
        self.socket = socket or f"slavik-e2e-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.target = "main"
        environ = {**os.environ, **(env or {})}
        environ.pop("TMUX", None)  # we may run inside the user's tmux
        environ.setdefault("TERM", "xterm-256color")
        self._env = environ
        line = " ".join(shlex.quote(c) for c in command)
        # When the app exits, keep the pane (and what it printed) readable for a while.
        self._tmux("new-session", "-d", "-s", self.target, "-x", str(width), "-y", str(height),
                   f"{line}; sleep 600")

    def _tmux(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], env=self._env,
                             capture_output=True, text=True, timeout=20, check=False)
        if check and out.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def keys(self, *keys: str, pause: float = 0.15) -> None:
        """tmux key names ("Tab", "C-r", "Escape", "End", "+") or literal text."""
        for key in keys:
            self._tmux("send-keys", "-t", self.target, key)
            time.sleep(pause)

    def type(self, text: str, pause: float = 0.15) -> None:
        self._tmux("send-keys", "-t", self.target, "-l", text)
        time.sleep(pause)

    def capture(self, escapes: bool = False) -> str:
        args = ["capture-pane", "-p", "-t", self.target]
        if escapes:
            args.insert(1, "-e")
        return self._tmux(*args)

    def wait_for(self, test: str | Callable[[str], bool], timeout: float = 30.0,
                 what: str | None = None) -> str:
        """Capture until `test` (a substring or a predicate) holds; returns that capture."""
        check = (lambda screen: test in screen) if isinstance(test, str) else test
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if check(screen):
                return screen
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for "
                             f"{what or test!r}; the screen was:\n{screen}")

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", self.target, "-x", str(width), "-y", str(height))

    def kill(self) -> None:
        """Kill the tmux server: the terminal and the app in it die (SIGHUP), as on an SSH drop."""
        self._tmux("kill-server", check=False)


def app_command(models_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "slavik_tui", "--models-dir", str(models_dir), *args]


def form_command(screen: str) -> str:
    """The command line under the training form, unwrapped and with its spaces removed: the
    form wraps it to the pane's width at places that depend on the models folder's path."""
    # The form is the left pane; "▕" is its border with the chart.
    lines = [line.split("▕")[0].strip() for line in screen.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("$ slavik-tui"):
            block = []
            for part in lines[i:]:
                if not part:
                    break
                block.append(part)
            return "".join("".join(block).split())
    return ""


def _step(screen: str) -> int | None:
    m = re.search(r"step ([\d ]+)/", screen)
    return int(m.group(1).replace(" ", "")) if m else None


def training_scenario(models_dir: Path, captures: Path,
                      log: Callable[[str], None] = lambda line: None) -> dict:
    """The whole story; raises AssertionError at the first thing that is not as it should be.
    Cleans up only its tmux servers (the caller kills trainers). Returns what it measured."""
    from slavik_tui.store.history import History
    from slavik_tui.store.lock import lock_holder

    captures.mkdir(parents=True, exist_ok=True)
    model_dir = models_dir / "tiny"
    env = {"SLAVIK_NO_AUTOSAVE": "1", "PYTHONPATH": str(ROOT)}
    result: dict = {}
    t0 = time.monotonic()

    def note(what: str) -> None:
        log(f"{time.monotonic() - t0:6.1f}s {what}")

    first = TmuxSession(app_command(models_dir), 120, 40, env=env)
    second: TmuxSession | None = None
    try:
        first.wait_for("Models", timeout=30)
        first.wait_for("tiny")
        note("app open on Models")
        first.keys("t")  # the Training screen of the model under the cursor
        first.wait_for("Training · tiny")
        first.wait_for("no runs yet")
        note("Training screen")
        # The chart has the focus; Tab goes to the form: model, stage, reward, add data, iters,
        # batch, lr, eval every, save every.
        first.keys("Tab", "Tab", "Tab", "Tab", "Tab")
        first.type("100000")
        first.keys("Tab")
        first.type("2")
        first.keys("Tab", "Tab")
        first.type("5")
        first.wait_for(lambda s: "--iters100000--batch-size2--eval-every5--detach"
                       in form_command(s), what="the command line under the form")
        first.keys("C-r")
        first.wait_for("starting", timeout=10)
        note("start pressed")
        screen = first.wait_for(lambda s: "● running" in s and (_step(s) or 0) >= 20,
                                timeout=60, what="a running run past step 20")
        note("running")
        assert "loss" in screen and "val loss" in screen and "reward" in screen  # the legend
        assert "step" in screen and "ETA" in screen and "tok/s" in screen
        pid = lock_holder(model_dir)
        assert pid, "no trainer holds the model"
        result["pid"] = pid

        # The chart: Escape gives it the focus back; + zooms in (the view leaves the live
        # tail: paused), End follows the tail again, 2 hides the reward series.
        first.keys("Escape", "+")
        first.wait_for("‖ paused", timeout=5, what="zoomed in: paused")
        first.keys("End")
        first.wait_for("● live", timeout=5, what="End: following again")
        first.keys("0", "2")
        time.sleep(0.5)
        (captures / "training-120x40.txt").write_text(first.capture(), encoding="utf-8")
        first.keys("C-s")
        first.wait_for("Chart saved", timeout=10)
        charts = model_dir / "charts"
        svgs, csvs = sorted(charts.glob("*.svg")), sorted(charts.glob("*.csv"))
        assert svgs and csvs, f"nothing saved in {charts}"
        with open(csvs[-1], encoding="utf-8", newline="") as f:
            series = {row["series"] for row in csv.DictReader(f)}
        assert "loss" in series and "reward" not in series, series  # hidden: not exported
        result["saved"] = [str(svgs[-1]), str(csvs[-1])]
        note("chart saved")

        first.resize(80, 24)
        time.sleep(1.0)
        screen = first.wait_for("● running", timeout=10)
        (captures / "training-80x24.txt").write_text(screen, encoding="utf-8")
        assert "val loss" in screen and "step" in screen

        # The terminal dies (an SSH drop, a closed tmux window): the trainer must not.
        first.kill()
        time.sleep(1.5)
        assert _alive(pid), "the trainer died with the terminal"
        assert lock_holder(model_dir) == pid
        note("terminal killed; trainer alive")

        second = TmuxSession(app_command(models_dir, "watch", "tiny"), 120, 40, env=env)
        screen = second.wait_for(lambda s: "● running" in s and _step(s), timeout=30,
                                 what="the re-attached run")
        before = _step(screen)
        screen = second.wait_for(lambda s: (_step(s) or 0) > before, timeout=20,
                                 what="the step to grow")
        (captures / "watch-120x40.txt").write_text(screen, encoding="utf-8")
        note("re-attached with watch")
        # Quit on purpose: the app says where the training went (the pane stays open).
        second.keys("q")
        screen = second.wait_for(f"training of tiny goes on in the background (pid {pid}); "
                                 "come back with `slavik-tui watch tiny`", timeout=15)
        (captures / "after-quit.txt").write_text(screen, encoding="utf-8")
        second.kill()
        assert _alive(pid)
        note("quit with q: the background note is printed")

        third = TmuxSession(app_command(models_dir, "watch", "tiny"), 80, 24, env=env)
        second = third
        third.wait_for("● running", timeout=30, what="the re-attached run")
        third.keys("C-t")
        screen = third.wait_for(lambda s: "stopped" in s and "● running" not in s,
                                timeout=60, what="the run to stop")
        (captures / "stopped-80x24.txt").write_text(screen, encoding="utf-8")
        note("stopped")
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), "the trainer did not exit after Stop"
        with History(model_dir / "history.sqlite", readonly=True) as history:
            result["status"] = history.runs()[0].status
        assert result["status"] == "stopped"
        result["seconds"] = round(time.monotonic() - t0, 1)
        return result
    finally:
        first.kill()
        if second is not None:
            second.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def kill_trainers(model_dir: Path) -> None:
    from slavik_tui.store.history import History
    from slavik_tui.store.lock import lock_holder

    pids = {lock_holder(model_dir)}
    path = model_dir / "history.sqlite"
    if path.exists():
        with History(path, readonly=True) as history:
            pids |= {r.pid for r in history.runs() if r.status == "running"}
    for pid in pids - {None, os.getpid()}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    if not shutil.which("tmux"):
        sys.exit("tmux is not installed")
    models = Path(sys.argv[1]).resolve()
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("e2e-captures")
    try:
        print(training_scenario(models, out, log=print))
    finally:
        kill_trainers(models / "tiny")
