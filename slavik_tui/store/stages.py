"""Which training stages a model went through, from its history's runs (issue 9, item 4).

A stage is a run kind — `pretrain` (`slavik-tui train`), `sft` (dialogue fine-tuning), `grpo`
(`slavik-tui rl`) — that trained at least one step; a run that failed before its first step
(a bad file, a bad reward spec caught late) changed nothing and does not count. The Models
list shows them in the order the model first went through each, shortened: `pre+sft+rl`.
Pure standard library and one indexed query (no numpy): the app lists every model each 2 s.
`last_reward_spec` is the spec the newest run scored with (the reward lab opens on it).
"""

from __future__ import annotations

import json

from slavik_tui.store.history.connection import locked

SHORT = {"pretrain": "pre", "sft": "sft", "grpo": "rl"}
"""How the models list names each run kind (an unknown kind keeps its own name)."""

# The kinds of runs with at least one step, each once, in the order of their first run.
# steps_run_step (run_id, step) makes each EXISTS one index probe.
_SQL = ("SELECT kind FROM runs r WHERE EXISTS (SELECT 1 FROM steps s WHERE s.run_id = r.id) "
        "GROUP BY kind ORDER BY min(id)")


@locked
def trained_kinds(history) -> tuple[str, ...]:
    """The run kinds of a `store.history.History` that trained at least one step, in the
    order the model first went through each (a missing history: none). A damaged file is
    the history's one-line UserError."""
    conn = history._reader()  # noqa: SLF001 - the history's own connection, under its mutex
    if conn is None:
        return ()
    return tuple(str(kind) for (kind,) in conn.execute(_SQL).fetchall())


@locked
def last_reward_spec(history) -> str | None:
    """The reward spec of the newest run that recorded one (its plan's `reward`): what the
    model's blue line scores now. None without runs, or for a run of before reward specs."""
    conn = history._reader()  # noqa: SLF001 - as above
    if conn is None:
        return None
    for (config,) in conn.execute("SELECT config_json FROM runs ORDER BY id DESC LIMIT 20"):
        try:
            spec = json.loads(config or "{}").get("reward")
        except (ValueError, AttributeError):
            continue
        if isinstance(spec, str) and spec.strip():
            return spec
    return None


def stages_label(kinds: tuple[str, ...] | list[str]) -> str:
    """('pretrain', 'sft', 'grpo') → 'pre+sft+rl'; no stage yet → ''."""
    return "+".join(SHORT.get(kind, kind) for kind in kinds)


__all__ = ["SHORT", "last_reward_spec", "stages_label", "trained_kinds"]
