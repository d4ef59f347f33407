"""The app's dialogs over a model (new, export, rename, delete) and the help screen: a mixin
of `SlavikApp`, so the app module keeps to the modes, the listing and the keys."""

from __future__ import annotations

from pathlib import Path

from typing import TYPE_CHECKING

from slavik_tui.errors import UserError
from slavik_tui.store.lock import lock_holder
from slavik_tui.ui.modes import MODE_TITLES, MODES, screen_class

if TYPE_CHECKING:
    from textual.app import App

    _Base = App
else:
    _Base = object


class ModelDialogs(_Base):
    """New / export / rename / delete dialogs and help, for `SlavikApp` (which mixes it in)."""

    def action_help(self) -> None:
        from slavik_tui.ui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def help_classes(self) -> list[tuple[str, list[type]]]:
        """What the help screen lists: the app's keys, then each screen with the project's
        widgets inside it, then the dialogs."""
        from slavik_tui.ui.screens.confirm import ConfirmScreen
        from slavik_tui.ui.screens.export import ExportScreen
        from slavik_tui.ui.screens.file_picker import FilePickerScreen
        from slavik_tui.ui.screens.help import own_widget_classes
        from slavik_tui.ui.screens.new_model import NewModelScreen
        from slavik_tui.ui.screens.rename import RenameScreen
        from slavik_tui.ui.screens.reward_lab import RewardLabScreen

        sections: list[tuple[str, list[type]]] = [("Everywhere", [type(self)])]
        for mode in MODES:
            cls = screen_class(mode)
            try:
                mounted = self.get_screen_stack(mode)
            except KeyError:
                mounted = []
            widgets = own_widget_classes(s for s in mounted if isinstance(s, cls))
            extra = list(getattr(cls, "HELP_WIDGETS", ()))
            sections.append((f"{MODE_TITLES[mode]} screen", [cls, *extra, *widgets]))
        for title, cls in [("New model form", NewModelScreen), ("Export", ExportScreen),
                           ("Rename", RenameScreen), ("Reward lab", RewardLabScreen),
                           ("Confirm", ConfirmScreen),
                           ("File picker", FilePickerScreen)]:
            sections.append((title, [cls, *getattr(cls, "HELP_WIDGETS", ())]))
        return sections

    def action_new_model(self) -> None:
        from slavik_tui.ui.screens.new_model import NewModelScreen

        def created(name: str | None) -> None:
            if not name:
                return
            self._pending_select = name
            self.selected_model = name
            self.rescan()
            mode = self.current_mode
            # The screen it was made from shows it now; t / h from there open it too.
            self.fresh_model = name if mode != "models" else None
            if mode in ("training", "history"):
                self.open_mode(mode, name)
            if mode == "training":
                self.notify(f"created model '{name}'; ctrl+r starts training it")
            else:
                self.notify(f"created model '{name}'; press t to train it")

        self.push_screen(NewModelScreen(), created)

    def reward_lab(self, name: str) -> None:
        """The reward lab of a model (ui/screens/reward_lab.py): says so when untrained."""
        from slavik_tui.ui.screens.reward_lab import RewardLabScreen

        info = self.info(name)
        self.push_screen(RewardLabScreen(name, self.models_root / name,
                                         trained=bool(info and info.trained)))

    def export_model(self, name: str) -> None:
        from slavik_tui.ui.screens.export import ExportScreen

        info = self.info(name)
        if info is not None and not info.trained:
            self.notify(f"model '{name}' has no trained weights to export yet; train it first",
                        severity="warning")
            return

        def exported(path: Path | None) -> None:
            if path:
                self.notify(f"exported '{name}' to {path}", timeout=8)

        self.push_screen(ExportScreen(name), exported)

    def rename_model(self, name: str) -> None:
        from slavik_tui.ui.screens.rename import RenameScreen

        if self._refuse_while_training(name, "rename"):
            return

        def renamed(new: str | None) -> None:
            if new:
                self._pending_select = new
                self.rescan()
                self.notify(f"renamed '{name}' to '{new}'")

        self.push_screen(RenameScreen(name), renamed)

    def delete_model(self, name: str) -> None:
        from slavik_tui.ui.screens.confirm import ConfirmScreen

        if self._refuse_while_training(name, "delete"):
            return
        info = self.info(name)
        size = f" ({info.size_mb:.1f} MB)" if info else ""
        question = (f"Delete model '{name}' and everything in its folder{size}: weights, "
                    "tokenizer, token caches and its whole training history?\n"
                    "This cannot be undone.")

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.workspace.delete(name)
            except UserError as exc:
                self.notify(str(exc), severity="error", timeout=8)
                return
            self.rescan()
            self.notify(f"deleted model '{name}'")

        self.push_screen(ConfirmScreen(f"Delete '{name}'?", question), answered)

    def _refuse_while_training(self, name: str, verb: str) -> bool:
        pid = lock_holder(self.models_root / name)
        if pid:
            self.notify(f"cannot {verb} '{name}' while it is being trained (pid {pid}); "
                        "stop the training first", severity="error", timeout=8)
            return True
        return False
