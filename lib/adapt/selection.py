"""Label-free model selection and the proxy A-distance.

Unsupervised adaptation has no target labels to pick an epoch with. Criteria here:
  source_val  accuracy on labelled *source* validation images (the classic choice; blind
              to the shift).
  dev         deep embedded validation (You et al., ICML 2019): source-validation loss
              importance-weighted by the density ratio p_target/p_source, estimated by a
              domain classifier on the adapted features, with a control variate to tame
              the weights' variance. Lower is better.
  snd         soft neighbourhood density (Saito et al., ICCV 2021): entropy of each
              target sample's softmax-similarity to the other target samples, in the
              space of predicted class probabilities; high when target predictions form
              dense, consistent clusters. Needs target images, not target labels.
The oracle choice (best target-test accuracy) is reported beside them, marked as
reading target labels; it is the bound, not a method.
"""

from __future__ import annotations

import numpy as np

from lib.config import CRITERIA

SND_TEMPERATURE = 0.05  # the paper's value
# Each label-free criterion a run keeps its model by (--select-by,
# lib/config.KEEPING_CRITERIA): (the metric rank 0 reports, the order that ranks it), what
# Ray Train keeps the best checkpoint by; "last" needs none, the latest checkpoint is
# always kept. The names are those runs have always reported: a --resume of an older run
# ranks its checkpoints by them too. Ray Train, like select_epochs, ranks a tie's later
# epoch first.
KEPT_BY = {"source_val": ("source_val_accuracy", "max"), "dev": ("dev", "min"),
           "snd": ("snd", "max"), "last": None}


def criterion_scores(reported: dict) -> dict[str, float]:
    """One epoch's score under each label-free criterion, higher better for all, from
    the metrics rank 0 reports for it (lib/adapt/judge.py), ranked as KEPT_BY has Ray
    Train rank them: select_epochs picks by these, so the kept checkpoint is the picked
    epoch's."""
    return {name: reported[metric] if order == "max" else -reported[metric]
            for name, (metric, order) in ((n, k) for n, k in KEPT_BY.items() if k)
            if reported.get(metric) is not None}


def soft_neighbourhood_density(logits: np.ndarray) -> float:
    logits = logits.astype(np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    probs /= np.linalg.norm(probs, axis=1, keepdims=True)
    sim = probs @ probs.T / SND_TEMPERATURE
    np.fill_diagonal(sim, -np.inf)  # a sample is not its own neighbour
    sim -= sim.max(axis=1, keepdims=True)
    neighbours = np.exp(sim)
    neighbours /= neighbours.sum(axis=1, keepdims=True)
    entropy = -(neighbours * np.log(np.maximum(neighbours, 1e-300))).sum(axis=1)
    return float(entropy.mean())


def _fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 300, learning_rate: float = 0.5,
                  l2: float = 1e-3):
    """L2-regularised logistic regression on standardised inputs, full-batch gradient
    descent: enough for a linear domain probe on a few thousand samples. Returns P(y=1|x)."""
    x = x.reshape(len(x), -1).astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    x = (x - mean) / std
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= learning_rate * (x.T @ (p - y) / len(y) + l2 * w)
        b -= learning_rate * float((p - y).mean())

    def probability(z: np.ndarray) -> np.ndarray:
        z = (z.reshape(len(z), -1).astype(np.float64) - mean) / std
        return 1 / (1 + np.exp(-(z @ w + b)))

    return probability


def proxy_a_distance(source: np.ndarray, target: np.ndarray, seed: int = 0) -> float:
    """2 (1 - 2 err) of a linear domain classifier (logistic regression) trained on half of
    the samples and tested on the other half (Ben-David et al. 2007; Ganin et al. 2016).
    0: the domains look alike to a linear probe; 2: perfectly separable."""
    x = np.concatenate([source.reshape(len(source), -1), target.reshape(len(target), -1)])
    y = np.concatenate([np.ones(len(source)), np.zeros(len(target))])
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    half = len(y) // 2
    probability = _fit_logistic(x[:half], y[:half])
    error = float(((probability(x[half:]) > 0.5) != y[half:]).mean())
    return 2.0 * (1.0 - 2.0 * min(error, 0.5))


def deep_embedded_validation(source_train: np.ndarray, target: np.ndarray,
                             source_val: np.ndarray, val_losses: np.ndarray) -> float:
    """DEV risk of a model from its features (source train sample, target sample, source
    validation) and its per-example losses on source validation. Lower is better."""
    x = np.concatenate([source_train.reshape(len(source_train), -1),
                        target.reshape(len(target), -1)])
    y = np.concatenate([np.zeros(len(source_train)), np.ones(len(target))])
    p_target = np.clip(_fit_logistic(x, y)(source_val), 1e-3, 1 - 1e-3)
    weights = p_target / (1 - p_target) * len(source_train) / len(target)
    weighted = weights * val_losses
    # Both with n - 1, as np.cov and the authors' code (np.var(weight, ddof=1)) have them.
    variance = weights.var(ddof=1)
    eta = -np.cov(weighted, weights)[0, 1] / variance if variance > 0 else 0.0
    return float(weighted.mean() + eta * weights.mean() - eta)


def select_epochs(epochs: list[dict], evals: list[dict]) -> list[dict]:
    """The epoch each criterion picks, with what that epoch scored. Ties go to the later
    epoch (more training under the same evidence)."""
    accuracies = {}
    for row in evals:
        accuracies.setdefault(row["epoch"], {})[row["split"]] = row["accuracy"]
    per_epoch = {row["epoch"]: criterion_scores(
        row | {"source_val_accuracy": accuracies.get(row["epoch"], {}).get("source_val")})
        for row in epochs}
    scored = {name: {e: s[name] for e, s in per_epoch.items() if name in s}
              for name in ("source_val", "dev", "snd")}
    source_val = {e: a["source_val"] for e, a in accuracies.items() if "source_val" in a}
    target_test = {e: a["target_test"] for e, a in accuracies.items() if "target_test" in a}
    last = max(row["epoch"] for row in epochs)

    def best(scores: dict) -> int | None:
        return max(scores, key=lambda e: (scores[e], e)) if scores else None

    scored |= {"last": None, "oracle_target_test": target_test}
    picks = [(name, scored[name], last if name == "last" else best(scored[name]))
             for name in CRITERIA]
    return [{"criterion": name, "label_free": name != "oracle_target_test", "epoch": epoch,
             "criterion_value": (-scores[epoch] if name == "dev" else scores[epoch])
             if scores else None,
             "source_val_accuracy": source_val.get(epoch),
             "target_test_accuracy": target_test.get(epoch)}
            for name, scores, epoch in picks if epoch is not None]
