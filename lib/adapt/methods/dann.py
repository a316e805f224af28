from __future__ import annotations

from dataclasses import dataclass

from lib.adapt.grl import reverse_gradient
from lib.adapt.method import Method, domain_classification, domain_head, on_both_domains
from lib.adapt.schedules import grl_lambda
from lib.config import option


@dataclass(frozen=True)
class DANNOptions:
    lambda_max: float = option(1.0, "Final weight of the reversed domain gradient.", min=0)
    lambda_gamma: float = option(10.0, "How fast that weight ramps up: lambda_max (2 / (1 + "
                                       "exp(-gamma p)) - 1), p = training progress.", min=0)


class DANN(Method):
    """Domain-adversarial training (Ganin et al., JMLR 2016): the source classification loss
    plus a domain classifier on the bottleneck features, fed through gradient reversal
    whose weight ramps from 0 to lambda_max. Source and target go through the backbone as
    one batch."""

    name = "dann"
    Options = DANNOptions

    def build(self, width: int, num_classes: int) -> dict:
        return {"domain_head": domain_head("domain_head", width)}

    def loss(self, nets, source, target, progress):
        import tensorflow as tf

        zs, zt, _, class_loss, terms = on_both_domains(nets, source, target)
        lam = grl_lambda(progress, self.options.lambda_max, self.options.lambda_gamma)
        logits = nets.own["domain_head"](
            reverse_gradient(tf.concat([zs, zt], axis=0), lam), training=True)[:, 0]
        domain_loss, domain_terms = domain_classification(logits, tf.shape(zs)[0])
        return class_loss + domain_loss, terms | domain_terms | {"grl_lambda": (lam, 1.0)}
