"""The maths of group-relative policy optimisation (GRPO), free of models and data.

For each prompt the policy samples a group of G completions; each gets a reward r. The
group's mean is the baseline, so no value network is needed:

    A_i = r_i − mean(r_group)            (÷ (std(r_group) + 1e-4) with std_norm, GRPO's
                                          original; Dr. GRPO shows the division over-weights
                                          groups whose completions barely differ)

Every token of completion i shares A_i. The loss is PPO's clipped surrogate per token,

    ℓ_t = −min(ρ_t A, clip(ρ_t, 1 − ε, 1 + ε) A) + β · KL_t,   ρ_t = π(y_t) / π_old(y_t),

normalised over all completion tokens of the batch (token-level, as DAPO: a long completion
counts as many tokens as it has, not as one sequence). With one update per batch π_old = π,
ρ = 1 and the gradient is plain policy gradient, −A ∇log π. KL_t is the k3 estimator of
KL(π ‖ π_ref), exp(q − p) − (q − p) − 1 with p, q the log-probabilities of y_t under the
policy and the frozen reference: unbiased, always ≥ 0 (Schulman; TRL and DeepSeek use it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

STD_EPS = 1e-4  # TRL's: a group whose rewards are all equal gets advantage 0, not 0/0


def group_advantages(rewards: torch.Tensor, std_norm: bool = False) -> torch.Tensor:
    """(P, G) rewards → (P, G) advantages: reward − its group's mean (÷ its std + eps)."""
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be (prompts, group ≥ 2), got {tuple(rewards.shape)}")
    rewards = rewards.double()
    adv = rewards - rewards.mean(dim=1, keepdim=True)
    if std_norm:
        adv = adv / (rewards.std(dim=1, keepdim=True) + STD_EPS)
    return adv.float()


def zero_std_share(rewards: torch.Tensor) -> float:
    """The share of groups whose completions all scored the same (they teach nothing)."""
    spread = rewards.max(dim=1).values - rewards.min(dim=1).values
    return float((spread <= 1e-9 * (1 + rewards.abs().max(dim=1).values)).float().mean())


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor,
                   temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log π(token) and entropy of π at each position.

    logits (B, T, V) predict tokens (B, T); the policy is softmax(logits / temperature), the
    distribution the completions were sampled from."""
    logp_all = torch.log_softmax(logits.float() / temperature, dim=-1)
    logp = logp_all.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token estimate of KL(π ‖ π_ref) from sampled tokens: exp(q − p) − (q − p) − 1."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


@dataclass(frozen=True)
class LossParts:
    """Token sums of one chunk's terms (divide by the batch's token count for means)."""

    loss: torch.Tensor  # Σ ℓ_t / n_tokens: the chunk's share of the batch loss (has grad)
    kl: float  # Σ KL_t over the chunk's tokens (0 without a reference)
    clipped: float  # tokens whose ratio was clipped


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, n_tokens: int, clip: float = 0.2,
                ref_logp: torch.Tensor | None = None, kl_coef: float = 0.0) -> LossParts:
    """The clipped surrogate (plus β·KL) of a chunk of completions.

    logp, old_logp, ref_logp, mask: (B, T) — log π now, log π when sampled, log π_ref, and
    1 where a token belongs to a completion; advantages (B,). `n_tokens` is the completion
    token count of the whole batch, so chunks' losses add up to the batch's token mean."""
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype).unsqueeze(1)
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - clip, 1 + clip) * adv
    per_token = -torch.minimum(unclipped, clipped)
    kl_sum = 0.0
    if ref_logp is not None:
        kl = k3_kl(logp, ref_logp)
        kl_sum = float((kl.detach() * mask).sum())
        if kl_coef:
            per_token = per_token + kl_coef * kl
    was_clipped = float(((unclipped != clipped).to(mask.dtype) * mask).sum())
    loss = (per_token * mask).sum() / max(1, n_tokens)
    return LossParts(loss, kl_sum, was_clipped)
