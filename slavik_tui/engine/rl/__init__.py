"""Reinforcement learning on a trained model: the GRPO stage (`slavik-tui rl NAME`).

    grpo.py     the maths: group advantages, the token-normalised clipped PG loss, k3 KL
    rollout.py  G completions per prompt from one prefill (the KV cache expanded), seeded
    prompts.py  the held-out prompts RL may use: none that an eval or the reward lab scores
    stage.py    the Stage and its loop on the one trainer; `rl(model_dir, opts)` runs it
"""

from slavik_tui.engine.rl.stage import KIND, GRPOLoop, GRPOStage, rl

__all__ = ["KIND", "GRPOLoop", "GRPOStage", "rl"]
