"""The GRPO stage: `slavik-tui rl NAME` as a `Stage` of the one trainer.

Everything the trainer guarantees holds here because it is the trainer's: the lock, signals
and graceful stop, the resume point, the plan (RLOptions' fields are plan keys), AdamW, the
history run (kind `grpo`), atomic checkpoints, evals (val loss, bits/byte, reward) and the NaN
guard; the reward spec too (`--reward`, else the unfinished plan's, else the default: checked
before any run is recorded, kept in the plan). The stage brings its data (the trained model's
own held-out split, and the prompts `prompts.py` keeps apart from what the evals and the lab
score) and a loop whose step is:

1. draw `prompts` held-out prompts for this step (a pure function of seed and step);
2. sample `group` completions of each from one prefill (`rollout.py`, seeded by seed, step
   and prompt: the same weights give the same completions, so a resume is exact);
3. score them with the spec; advantages = reward − group mean (÷ std with --std-norm);
4. `ppo_epochs` AdamW updates of the token-normalised clipped policy-gradient loss (`grpo.py`),
   one forward/backward per prompt's group, plus kl·KL to the frozen starting weights.

Per step the history gets `loss` (the steps table: the chart's red line) and, through
`History.log_metrics`, the RL batch's series under `rl/`: rl/reward, rl/reward_std,
rl/rewards/NAME, rl/frac_reward_zero_std, rl/completions/mean_length, /min_length,
/max_length, rl/entropy, rl/loss, rl/kl (with a reference), rl/clip_ratio (PPO epochs > 1).
The prefix keeps them apart from the evals' `reward_std` and `rewards/NAME`, which score the
fixed held-out eval prompts at the same steps: the blue line stays the evals' reward.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Callable

import torch

from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.engine.data import TokenData
from slavik_tui.engine.rl.grpo import group_advantages, policy_loss, token_logprobs, zero_std_share
from slavik_tui.engine.rl.prompts import PromptPool, prompt_tokens
from slavik_tui.engine.rl.rollout import sample_groups, seeded_generator
from slavik_tui.engine.trainer import Stage, Trainer, TrainLoop, lr_at, make_plan
from slavik_tui.errors import UserError
from slavik_tui.spec.rl_options import RLOptions, longest_max_new
from slavik_tui.store.history import MAX_NAME

KIND = "grpo"
REFERENCE = "rl_reference"  # the frozen starting weights in trainer_state.pt (kl > 0)


def _saved_state(model_dir: Path) -> dict | None:
    try:
        return ckpt.load_trainer_state(model_dir)
    except UserError:
        return None


class GRPOStage(Stage):
    """One RL run's stage (a fresh instance per run: it holds the run's prompts and the
    reference weights)."""

    kind = KIND
    static_shapes = False  # rollouts of every length: a compiled step would recompile
    command = "rl"

    def __init__(self) -> None:
        self.pool: PromptPool | None = None
        self.reference: dict | None = None  # the frozen starting weights when kl > 0

    @property
    def loop_class(self):
        return GRPOLoop

    def fit_plan(self, plan: dict, opts: RLOptions, cfg) -> None:
        """The default completion length, cut to what the context holds after the prompt (an
        explicit --max-new that does not fit is refused by make_data)."""
        if opts.max_new is None:
            plan["max_new"] = min(plan["max_new"], longest_max_new(cfg.context))

    def make_data(self, model_dir: Path, cfg, tokenizer, opts: RLOptions,
                  report: Callable[[str], None]):
        """The model's own data and the prompt pool, checked before a run is recorded (the
        plan computed as the trainer will, from the same saved state)."""
        model_dir = Path(model_dir)
        if not ckpt.weights_on_disk(model_dir):
            raise untrained(model_dir.name)
        data = TokenData(model_dir, cfg.context)
        state = _saved_state(model_dir)
        plan, resuming = make_plan(opts, ckpt.saved_step(model_dir),
                                   state["plan"] if state else None, self.kind)
        self.fit_plan(plan, opts, cfg)
        n_prompt = prompt_tokens(cfg.context)
        if plan["max_new"] > longest_max_new(cfg.context):
            raise UserError(
                f"--max-new {plan['max_new']} and the {n_prompt}-token prompt do not fit the "
                f"model's context of {cfg.context} tokens; use --max-new "
                f"{longest_max_new(cfg.context)} or less", field="max_new")
        self.pool = PromptPool.build(data, tokenizer, plan["eval_batches"] * plan["batch_size"],
                                     plan["max_new"], plan["seed"], model_dir.name,
                                     wanted=plan["prompts"])
        apart = "the evals' and the lab's windows" if self.pool.apart_from_val_loss else (
            "the reward-scored windows (the held-out text is too short to keep them off the "
            "val-loss windows too: val bits/byte may flatter RL)")
        report(f"rl: {len(self.pool.pairs)} held-out prompts apart from {apart}")
        if plan["kl"] > 0:
            self.reference = self._reference(model_dir, state, resuming)
        return data

    @staticmethod
    def _reference(model_dir: Path, state: dict | None, resuming: bool) -> dict:
        """The weights KL is measured against: those the plan started from (saved in its
        checkpoints), or for a new plan the weights it starts from now."""
        if not resuming:
            return ckpt.load_weights(model_dir)
        weights = state.get(REFERENCE)
        if not isinstance(weights, dict):
            raise UserError(
                f"the unfinished RL run of '{model_dir.name}' has no reference weights (it ran "
                f"with --kl 0); finish it with --kl 0, or start a new plan with "
                f"`slavik-tui rl {model_dir.name} --iters N --kl BETA`", field="kl")
        return weights


def untrained(name: str) -> UserError:
    return UserError(f"model '{name}' has no trained weights yet; RL starts from a trained "
                     f"model: run `slavik-tui train {name}` first", field="name")


class GRPOLoop(TrainLoop):
    """TrainLoop whose step samples, scores and updates (see the module docstring)."""

    reference: torch.nn.Module | None = None

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.pool = self.t.stage.pool
        self.eot = int(self.tokenizer.eot_id)
        self.n_vocab = int(self.tokenizer.vocab_size)
        weights = self.t.stage.reference
        if weights is not None:
            ref = copy.deepcopy(self.model)
            ckpt.apply_weights(ref, weights, self.t.model_dir)
            ref.eval().requires_grad_(False)
            self.reference = ref

    def save(self, step: int) -> None:
        """TrainLoop.save, with the reference weights in the state when there is one."""
        if self.reference is None:
            return super().save(step)
        from slavik_tui.atomic import on_disk_full
        from slavik_tui.engine.train_loop import rng_state

        weights = ckpt.serialize_weights(self.model.state_dict(),
                                         {"format": "pt", "step": str(step)})
        state = ckpt.serialize_state({
            "step": step, "plan": self.plan, "optimizer": self.optimizer.state_dict(),
            "rng": rng_state(), "run_id": self.run_id,
            REFERENCE: self.t.stage.reference,
        })
        with on_disk_full(self.t.model_dir, f"the checkpoint of step {step}",
                          needed=len(weights) + len(state), then=self._resume_advice()):
            ckpt.save_checkpoint(self.t.model_dir, weights, state, step)

    # ---- one step ----------------------------------------------------------------------
    def rollout(self, step: int):
        """The step's prompts, their groups and the decoded completions."""
        plan, tok = self.plan, self.tokenizer
        room = self.cfg.context - plan["max_new"]
        pairs = self.pool.draw(step, plan["prompts"])
        self.model.eval()
        prompts = [(tok.encode(pair.prompt) or [self.eot])[-room:] for pair in pairs]
        groups = sample_groups(self.model, prompts, plan["group"], plan["max_new"],
                               plan["temperature"], self.eot, self.n_vocab,
                               [seeded_generator(plan["seed"], step, i)
                                for i in range(len(pairs))])
        texts = [tok.decode(g.completion_ids(j, self.eot))
                 for g in groups for j in range(plan["group"])]
        return pairs, groups, texts

    def train_step(self, step: int) -> tuple[float, float, float]:
        plan, model, G = self.plan, self.model, self.plan["group"]
        lr = lr_at(plan, step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        pairs, groups, texts = self.rollout(step)
        scores = self.reward_spec.score(texts, [p.prompt for p in pairs for _ in range(G)],
                                        [p.reference for p in pairs for _ in range(G)],
                                        **self.reward_ctx)
        rewards = torch.tensor(scores.total, dtype=torch.float64).view(len(pairs), G)
        adv = group_advantages(rewards, plan["std_norm"]).to(self.device)
        lengths = torch.cat([g.lengths for g in groups]).float()
        n_tokens = int(lengths.sum())
        model.train()
        old: list[torch.Tensor | None] = [None] * len(groups)
        losses, grad_norm, kl_sum, entropy_sum, clipped = [], math.nan, 0.0, 0.0, 0.0
        for epoch in range(plan["ppo_epochs"]):
            total = 0.0
            for i, g in enumerate(groups):
                logp, entropy, ref_logp = self._logprobs(g)
                if old[i] is None:
                    old[i] = logp.detach()
                parts = policy_loss(logp, old[i], adv[i], g.mask, n_tokens, plan["clip"],
                                    ref_logp, plan["kl"])
                parts.loss.backward()
                total += float(parts.loss.detach())
                if epoch == 0:
                    kl_sum += parts.kl
                    entropy_sum += float((entropy.detach() * g.mask).sum())
                clipped += parts.clipped
            losses.append(total)
            grad_norm = self._update()
            if not math.isfinite(total):
                break
        loss = sum(losses) / len(losses)
        # the progress line's tok/s: the tokens each update's forward/backward covered
        self.step_tokens = len(losses) * sum(g.tokens.shape[0] * (g.tokens.shape[1] - 1)
                                             for g in groups)
        self.finish_step(torch.zeros((), device=self.device))  # a stop request, agreed
        if math.isfinite(loss) and math.isfinite(grad_norm):
            metrics = {**scores.summary(), "frac_reward_zero_std": zero_std_share(rewards),
                       "completions/mean_length": float(lengths.mean()),
                       "completions/min_length": float(lengths.min()),
                       "completions/max_length": float(lengths.max()),
                       "entropy": entropy_sum / max(1, n_tokens), "loss": loss}
            if self.reference is not None:
                metrics["kl"] = kl_sum / max(1, n_tokens)
            if plan["ppo_epochs"] > 1:
                metrics["clip_ratio"] = clipped / max(1, n_tokens * plan["ppo_epochs"])
            self.history.log_metrics(self.run_id, step, time.time(), series(metrics))
        return loss, lr, grad_norm

    def _logprobs(self, g):
        """log π and entropy at each completion position of a group (and log π_ref)."""
        T0 = g.prompt_len
        x, targets = g.tokens[:, :-1], g.tokens[:, T0:]
        with self._autocast():
            logits, _ = self.step_fn(x)
        logp, entropy = token_logprobs(logits[:, T0 - 1 :], targets, self.plan["temperature"])
        ref_logp = None
        if self.reference is not None:
            with torch.no_grad(), self._autocast():
                ref_logits, _ = self.reference(x)
            ref_logp, _ = token_logprobs(ref_logits[:, T0 - 1 :], targets,
                                         self.plan["temperature"])
        return logp, entropy, ref_logp

    def _update(self) -> float:
        """Clip, step AdamW (only on a finite gradient), zero the gradients: the norm."""
        params = [p for p in self.model.parameters() if p.grad is not None]
        clip = self.plan["grad_clip"]
        if clip > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        else:
            norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
        if math.isfinite(norm):
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm


def series(metrics: dict[str, float]) -> dict[str, float]:
    """The step's values under their `rl/` names (a long rewards/NAME drops "rewards/")."""
    out = {}
    for name, value in metrics.items():
        key = f"rl/{name}"
        out[key if len(key) <= MAX_NAME else "rl/" + name.removeprefix("rewards/")] = value
    return out


def rl(model_dir: Path, opts: RLOptions, report: Callable[[str], None] = print,
       on_run_started: Callable[[int], None] | None = None) -> dict:
    """Run (or resume) the GRPO stage on a trained model."""
    model_dir = Path(model_dir)
    opts.validate()
    if not ckpt.weights_on_disk(model_dir):
        raise untrained(model_dir.name)
    return Trainer(model_dir, opts, report, GRPOStage()).run(on_run_started)
