"""The command palette (ctrl+p): every main action of the app by name."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from slavik_tui.store.workspace import ModelInfo
    from slavik_tui.ui.app import SlavikApp


class SlavikCommands(Provider):
    """The command palette (ctrl+p): every main action by name, per model where it applies."""

    async def startup(self) -> None:
        self.models: list[ModelInfo] = list(getattr(self.app, "models", []))

    def commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app: SlavikApp = self.app  # type: ignore[assignment]
        out: list[tuple[str, Callable[[], Any], str]] = [
            ("Models screen", partial(app.open_mode, "models"), "every model, sizes, datasets"),
            ("Training screen", partial(app.open_mode, "training"), "train and watch a model"),
            ("Generation screen", partial(app.open_mode, "generation"), "talk to a model"),
            ("History screen", partial(app.open_mode, "history"), "past runs of a model"),
            ("New model…", app.action_new_model, "create a model from your text files"),
            ("Keys (help)", app.action_help, "every key of every screen"),
        ]
        for info in self.models:
            name = info.name
            out += [
                (f"Train {name}", partial(app.open_mode, "training", name),
                 "open the Training screen for this model"),
                (f"Generate with {name}", partial(app.generate_with, name),
                 "talk to this model" if info.trained else "not trained yet"),
                (f"History of {name}", partial(app.open_mode, "history", name),
                 "its runs and metrics"),
                (f"Reward lab of {name}…", partial(app.reward_lab, name),
                 "does a reward spec tell its real text from damaged text?"),
                (f"Export {name}…", partial(app.export_model, name),
                 "safetensors fp32 / bf16 or a Hugging Face folder"),
                (f"Rename {name}…", partial(app.rename_model, name), "rename its folder"),
                (f"Delete {name}…", partial(app.delete_model, name), "asks first"),
            ]
        return out

    async def discover(self) -> Hits:
        for text, command, help_text in self.commands()[:6]:
            yield DiscoveryHit(text, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, command, help_text in self.commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), command, text=text, help=help_text)
