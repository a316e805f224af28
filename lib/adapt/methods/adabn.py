from __future__ import annotations

from lib.adapt.method import Method, on_both_domains


class AdaBN(Method):
    """Adaptive batch normalisation (Li et al., "Revisiting Batch Normalization for Practical
    Domain Adaptation", 2016): the source-only model, with target images normalised by the
    target's own statistics. No domain loss: the baseline that isolates what per-domain
    normalisation alone gives.

    The paper recomputes the statistics on target data after training; here target batches
    go through the bottleneck in training mode every step, so the target BatchNorm's moving
    statistics follow the features as they train (the same estimate, kept current), while
    its scale and shift are the source's (`--domain-norm statistics`). Target images get no
    gradient: their loss is nil."""

    name = "adabn"
    domain_norm = "statistics"

    def loss(self, nets, source, target, progress):
        *_, class_loss, terms = on_both_domains(nets, source, target)  # updates target statistics
        return class_loss, terms
