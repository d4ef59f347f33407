"""What a user may ask of a dialogue fine-tuning run: `slavik-tui sft NAME --data FILE ...`.

`SFTOptions` is `TrainOptions` (every `train` flag, with the same metadata, rules and argv)
with the dialogue files in place of the text datasets, the CSV columns that hold question and
answer, and a lower default learning rate. Pure Python, like spec/options.py, so the command
line and a form check the values without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from slavik_tui.errors import UserError
from slavik_tui.spec.options import TrainOptions, _lr, _option

# Fine-tuning starts from trained weights: a third of pretraining's 6e-4 moves them toward the
# dialogues without washing out what the novel taught (with warm-up and cosine as in `train`).
SFT_LR = 2e-4


def _columns(value: str) -> str | None:
    parts = [p.strip() for p in str(value).split(",")]
    if len(parts) == 2 and all(parts):
        return None
    return (f"{value!r} must name two columns, the question's and the answer's, separated by a "
            "comma: --columns question,answer")


@dataclass
class SFTOptions(TrainOptions):
    """`train`'s options for the sft stage (None: continue the saved plan, else the default)."""

    lr: float | None = _option(None, "peak learning rate", "float", metavar="LR", label="lr",
                               plan=SFT_LR, rule=_lr, example="2e-4")
    data: list[str] = _option(
        None, "dialogue file: .jsonl with messages, .csv/.tsv with question and answer "
        "columns, or text (dash-led lines of speech, T:/Q:/A: records); repeat for several; "
        "needed for a new sft run, kept for the next", "list", metavar="FILE",
        label="dialogues")
    columns: str | None = _option(None, "the question and answer columns of a .csv/.tsv "
                                  "(default question,answer)", "str", metavar="Q,A",
                                  rule=_columns)

    def validate(self) -> None:
        super().validate()
        if self.column is not None:
            raise UserError("--column names the text column of a pretraining dataset; for the "
                            "question and answer columns of dialogues use --columns Q,A",
                            field="column")

    @property
    def column_pair(self) -> tuple[str, str] | None:
        """--columns as (question, answer), None when not given."""
        if self.columns is None:
            return None
        q, a = (p.strip() for p in self.columns.split(","))
        return q, a
