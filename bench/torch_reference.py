"""The PyTorch side of the comparisons: BERT's fine-tuning recipe for a Hugging Face
`BertForSequenceClassification`, shared by `hf_finetune.py` (accuracy),
`compare_trajectories.py` (step-by-step agreement) and `_torch_train_worker.py` (speed).

* parameter groups: weight decay on every parameter but biases and LayerNorm, as
  BERT's `exclude_from_weight_decay`;
* the optimizer: `torch.optim.AdamW` (betas 0.9/0.999, eps 1e-6, bias-corrected) or a
  port of BERT's `AdamWeightDecayOptimizer` (no bias correction), `make_bert_adamw`;
* the schedule: BERT's warmup then linear decay to 0 (`bert_lr_lambda`), or
  transformers' `get_linear_schedule_with_warmup`;
* one training step: forward, backward, clip to global norm 1.0, step, schedule.

Runs in the benchmark virtualenv (`.venv-bench`); imports nothing from the product and
takes the `torch` module as an argument, so that importing this file needs only the
standard library.
"""

from __future__ import annotations

# Substrings of the parameter names that get no weight decay (BERT: "LayerNorm", "bias").
NO_DECAY = ("bias", "LayerNorm.weight", "LayerNorm.bias")


def make_bert_adamw(torch):
    """A PyTorch port of BERT's `AdamWeightDecayOptimizer` (optimization.py): Adam without
    bias correction, eps added to sqrt(v), decoupled weight decay lr * wd * w."""

    class BertAdamW(torch.optim.Optimizer):
        def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
            super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

        @torch.no_grad()
        def step(self):
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if not state:
                        state["m"] = torch.zeros_like(p)
                        state["v"] = torch.zeros_like(p)
                    m, v = state["m"], state["v"]
                    m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                    v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                    update = m / (v.sqrt() + group["eps"])
                    if group["weight_decay"]:
                        update = update + group["weight_decay"] * p
                    p.add_(update, alpha=-group["lr"])

    return BertAdamW


def bert_lr_lambda(num_train_steps: int, num_warmup_steps: int, schedule: str = "bert"):
    """Multiplier of the peak learning rate at step k (k = 0, 1, ...).

    "bert": k / warmup during warmup, then 1 - k / steps (so it drops to
    1 - warmup / steps when warmup ends), as optimization.create_optimizer;
    "hf": transformers' get_linear_schedule_with_warmup, which decays from 1 instead.
    """

    def bert(k):
        if num_warmup_steps and k < num_warmup_steps:
            return k / num_warmup_steps
        return max(0.0, 1.0 - min(k, num_train_steps) / num_train_steps)

    def hf(k):
        if k < num_warmup_steps:
            return k / max(1, num_warmup_steps)
        return max(0.0, (num_train_steps - k) / max(1, num_train_steps - num_warmup_steps))

    if schedule not in ("bert", "hf"):
        raise ValueError(f"unknown schedule {schedule!r}: bert or hf")
    return bert if schedule == "bert" else hf


def build_optimizer(torch, model, learning_rate: float, num_train_steps: int, num_warmup_steps: int,
                    optimizer: str = "torch", schedule: str = "bert", weight_decay: float = 0.01):
    """(optimizer, LambdaLR scheduler) for `model` with BERT's parameter groups.

    optimizer: "torch" (torch.optim.AdamW, bias-corrected) or "bert" (BERT's, without).
    """
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in NO_DECAY)],
         "weight_decay": weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in NO_DECAY)],
         "weight_decay": 0.0},
    ]
    if optimizer == "torch":
        opt = torch.optim.AdamW(groups, lr=learning_rate, betas=(0.9, 0.999), eps=1e-6)
    elif optimizer == "bert":
        opt = make_bert_adamw(torch)(groups, lr=learning_rate, betas=(0.9, 0.999), eps=1e-6)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}: torch or bert")
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, bert_lr_lambda(num_train_steps, num_warmup_steps, schedule))
    return opt, scheduler


def batch_tensors(data: dict, idx, padding: str = "fixed"):
    """(input_ids, input_mask, segment_ids) rows `idx` of `data`; with padding="longest"
    cut to the longest member (the masked tail changes no output)."""
    ids, mask, seg = data["input_ids"][idx], data["input_mask"][idx], data["segment_ids"][idx]
    if padding == "longest":
        length = int(mask.sum(dim=1).max())
        ids, mask, seg = ids[:, :length], mask[:, :length], seg[:, :length]
    return ids, mask, seg


def training_step(torch, model, optimizer, scheduler, ids, mask, seg, labels) -> float:
    """One step of the recipe; returns the batch's mean loss."""
    out = model(input_ids=ids, attention_mask=mask, token_type_ids=seg, labels=labels)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(out.loss.detach())
