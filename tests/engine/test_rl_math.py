"""GRPO's maths on toy policies where the right answer is known, and the batched rollout
against the model's own forward."""

from __future__ import annotations

import pytest
import torch

from slavik_tui.engine.model import GPT
from slavik_tui.engine.rl.grpo import (
    group_advantages,
    k3_kl,
    policy_loss,
    token_logprobs,
    zero_std_share,
)
from slavik_tui.engine.rl.rollout import (
    CachedGroup,
    sample_group,
    sample_groups,
    seeded_generator,
)
from slavik_tui.spec.config import ModelConfig

TINY = ModelConfig(vocab_size=300, context=32, d_model=32, n_layers=2, n_heads=2)


def test_advantages_are_reward_minus_group_mean_optionally_over_std():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    adv = group_advantages(r)
    assert torch.allclose(adv, torch.tensor([[0.5, -0.5, -0.5, 0.5], [0.0] * 4]))
    scaled = group_advantages(r, std_norm=True)
    std = torch.tensor([1.0, 0.0, 0.0, 1.0]).std()
    assert torch.allclose(scaled[0], adv[0] / (std + 1e-4))
    assert torch.equal(scaled[1], torch.zeros(4))  # equal rewards: 0, not 0/0
    assert zero_std_share(r) == 0.5
    with pytest.raises(ValueError):
        group_advantages(torch.ones(3, 1))  # a group of one has no baseline


def _bandit_loss(logits: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, **kw):
    """A one-step policy over 3 actions: the loss of one group of sampled actions."""
    logp_all = torch.log_softmax(logits, -1).expand(len(actions), 1, -1)
    logp = logp_all.gather(-1, actions.view(-1, 1, 1)).squeeze(-1)  # (G, 1)
    adv = group_advantages(rewards.view(1, -1))[0]
    mask = torch.ones_like(logp)
    return policy_loss(logp, logp.detach(), adv, mask, n_tokens=len(actions), **kw), logp


def test_gradient_descent_on_the_loss_raises_the_rewarded_action():
    logits = torch.zeros(3, requires_grad=True)
    actions = torch.tensor([0, 1, 2, 0, 1, 2])
    rewards = (actions == 0).float()  # only action 0 pays
    parts, _ = _bandit_loss(logits, actions, rewards)
    parts.loss.backward()
    g = logits.grad
    assert g[0] < 0 < g[1] and g[2] > 0  # descent raises logit 0, lowers the others
    # the same in a few steps of SGD: π(0) rises from 1/3
    logits = torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=1.0)
    for _ in range(20):
        opt.zero_grad()
        _bandit_loss(logits, actions, rewards)[0].loss.backward()
        opt.step()
    assert torch.softmax(logits, -1)[0] > 0.9


def test_ratio_one_is_plain_policy_gradient_and_clipping_stops_the_push():
    logits = torch.zeros(3, requires_grad=True)
    actions = torch.tensor([0, 1])
    rewards = torch.tensor([1.0, 0.0])
    parts, logp = _bandit_loss(logits, actions, rewards)
    assert parts.loss.item() == pytest.approx(0.0)  # -(0.5·1 − 0.5·1)/2
    assert parts.clipped == 0
    # a policy already far past the clip range for the good action gets no more push from
    # it: the gradient is that of the other token alone
    def logps():
        return torch.log_softmax(logits, -1)[actions].view(2, 1)

    old = logps().detach() - torch.tensor([[1.0], [0.0]])  # ratio e ≈ 2.7 for action 0
    adv = torch.tensor([0.5, -0.5])
    clipped = policy_loss(logps(), old, adv, torch.ones(2, 1), 2, clip=0.2)
    assert clipped.clipped == 1
    got = torch.autograd.grad(clipped.loss, logits)[0]
    only_bad = policy_loss(logps()[1:], old[1:], adv[1:], torch.ones(1, 1), 2, clip=0.2)
    expected = torch.autograd.grad(only_bad.loss, logits)[0]
    assert torch.allclose(got, expected) and got.abs().sum() > 0


def test_token_level_normalisation_counts_tokens_not_sequences():
    logp = torch.zeros(2, 4, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    parts = policy_loss(logp, logp.detach(), torch.tensor([1.0, 1.0]), mask, n_tokens=5)
    parts.loss.backward()
    assert torch.allclose(logp.grad, -mask.float() / 5)  # each token weighs 1/5


def test_kl_estimator_is_zero_at_the_reference_and_positive_elsewhere():
    p = torch.log(torch.tensor([0.2, 0.5, 0.3]))
    assert torch.equal(k3_kl(p, p), torch.zeros(3))
    assert (k3_kl(p, p.flip(0)) > 0).any() and (k3_kl(p, p.flip(0)) >= 0).all()
    logp = p.clone().requires_grad_(True).view(1, 3)
    ref = logp.detach() - 0.5
    with_kl = policy_loss(logp, logp.detach(), torch.zeros(1), torch.ones(1, 3), 3,
                          ref_logp=ref, kl_coef=0.1)
    assert with_kl.kl > 0 and with_kl.loss.item() > 0


def test_token_logprobs_and_entropy():
    logits = torch.tensor([[[0.0, 0.0], [10.0, -10.0]]])
    logp, ent = token_logprobs(logits, torch.tensor([[1, 0]]))
    assert logp[0, 0].item() == pytest.approx(-0.6931, abs=1e-4)
    assert ent[0, 0].item() == pytest.approx(0.6931, abs=1e-4) and ent[0, 1] < 1e-6
    hot, _ = token_logprobs(logits, torch.tensor([[1, 0]]), temperature=2.0)
    assert hot[0, 1] < logp[0, 1]  # a higher temperature flattens the policy


def test_cached_group_equals_the_models_forward():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    ids = torch.randint(0, TINY.vocab_size, (1, 20))
    with torch.no_grad():
        full, _ = model(ids.expand(3, -1))
        cache = CachedGroup(model, rows=3, max_len=20)
        first = cache.forward(ids[:, :12], expand=3)  # one prefill of batch 1 ...
        steps = [cache.forward(ids[:, t : t + 1].expand(3, -1)) for t in range(12, 20)]
    assert torch.allclose(first[0], full[0, :12], atol=1e-5)
    got = torch.cat(steps, dim=1)  # ... then the three rows step together
    assert torch.allclose(got, full[:, 12:], atol=1e-5)


def test_sample_group_is_seeded_and_masks_after_the_end():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    eot = 5
    prompt = [1, 2, 3, 4]
    a = sample_group(model, prompt, 6, 12, 1.0, eot, 300, seeded_generator(7, 3, 0))
    b = sample_group(model, prompt, 6, 12, 1.0, eot, 300, seeded_generator(7, 3, 0))
    c = sample_group(model, prompt, 6, 12, 1.0, eot, 300, seeded_generator(7, 4, 0))
    assert torch.equal(a.tokens, b.tokens) and not torch.equal(a.tokens, c.tokens)
    assert a.tokens.shape == (6, 16) and torch.equal(a.tokens[:, :4], torch.tensor([prompt] * 6))
    ended = 0
    for step in range(30):
        g = sample_group(model, prompt, 6, 12, 1.0, eot, 300, seeded_generator(7, step, 0))
        for i in range(6):
            n = int(g.lengths[i])
            comp = g.tokens[i, 4 : 4 + n].tolist()
            assert eot not in comp[:-1]  # an end-of-text token can only be the last
            assert n == 12 or comp[-1] == eot
            ended += n < 12
            assert g.completion_ids(i, eot) == [t for t in comp if t != eot]
            assert not g.mask[i, n:].any() and (g.tokens[i, 4 + n :] == eot).all()
    assert ended > 0  # some completions did end early, and were masked after it
    assert len({tuple(r) for r in a.tokens.tolist()}) > 1  # the group's members differ


def test_prompts_of_one_length_share_a_rollout_with_the_same_samples():
    torch.manual_seed(1)
    model = GPT(TINY).eval()
    prompts = [[1, 2, 3, 4], [9, 8, 7, 6], [5, 5, 5]]  # two of length 4, one of 3
    gens = lambda: [seeded_generator(3, 1, i) for i in range(3)]  # noqa: E731
    together = sample_groups(model, prompts, 4, 10, 1.0, 5, 300, gens())
    alone = [sample_group(model, p, 4, 10, 1.0, 5, 300, g) for p, g in zip(prompts, gens())]
    for a, b, p in zip(together, alone, prompts):
        assert a.prompt_len == len(p) and torch.equal(a.tokens[:, : len(p)],
                                                      torch.tensor([p] * 4))
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.mask, b.mask)
