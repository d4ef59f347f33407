"""The left side of the Training screen: the model picker, the model's datasets, the form."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Select, Static

from slavik_tui.errors import UserError
from slavik_tui.store.workspace import resolve_models_dir
from slavik_tui.ui.widgets.forms import FormField
from slavik_tui.ui.widgets.model_details import read_datasets
from slavik_tui.ui.widgets.train_form import TrainForm, command_line


def datasets_text(model_dir: Path | None) -> str:
    """The model's datasets, one a line with its token count."""
    if not model_dir:
        return ""
    entries = read_datasets(model_dir)
    if not entries:
        return "datasets: none"
    lines = ["datasets:"]
    for d in entries:
        tokens = d.get("tokens")
        count = f"{tokens:,} tokens".replace(",", " ") if isinstance(tokens, int) else ""
        lines.append(f"  {Path(str(d.get('path', '?'))).name}  {count}")
    return "\n".join(lines)


def models_dir_flag(models_root: Path) -> str | None:
    """--models-dir only when the default (env / ./models) would find another folder."""
    try:
        default = resolve_models_dir(None)
    except UserError:
        default = None
    root = Path(models_root).resolve()
    if default == root:
        return None
    home = str(Path.home())
    text = str(root)
    return "~" + text[len(home):] if text.startswith(home + "/") else text


class TrainSide(VerticalScroll):
    """Model picker (its `Select.Changed` bubbles to the screen), datasets, `TrainForm`."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.can_focus = False  # Tab goes field to field, not to the scroll box
        self.options: list[str] | None = None
        """The model names the picker offers (None until the first listing)."""

    def compose(self) -> ComposeResult:
        yield FormField("model", Select([], id="train-model", compact=True,
                                        prompt="no model", allow_blank=True),
                        layout="stacked", id="trf-model")
        yield Static("", id="train-datasets", markup=False)
        yield TrainForm(id="train-form")

    @property
    def picker(self) -> Select:
        return self.query_one("#train-model", Select)

    @property
    def form(self) -> TrainForm:
        return self.query_one("#train-form", TrainForm)

    def set_models(self, names: list[str], current: str | None) -> None:
        if names != self.options:
            self.options = names
            with self.prevent(Select.Changed):
                self.picker.set_options([(n, n) for n in names])
                if current in names:
                    self.picker.value = current

    def pick(self, name: str) -> None:
        """Show `name` in the picker (without a `Select.Changed`)."""
        if self.options is not None and name in self.options:
            with self.prevent(Select.Changed):
                self.picker.value = name

    def show_datasets(self, model_dir: Path | None) -> None:
        self.query_one("#train-datasets", Static).update(datasets_text(model_dir))

    def show_command(self, model: str | None, models_root: Path) -> None:
        """The command line Start runs (copy it to run the same training in a shell)."""
        if not model:
            self.form.set_command("")
            return
        line = command_line(model, self.form.settings, models_dir_flag(models_root))
        self.form.set_command("$ " + line)
