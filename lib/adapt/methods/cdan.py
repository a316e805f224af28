from __future__ import annotations

from dataclasses import dataclass

from lib.adapt.grl import reverse_gradient
from lib.adapt.method import Method, domain_classification, domain_head, entropy, on_both_domains
from lib.adapt.schedules import grl_lambda
from lib.options import option


@dataclass(frozen=True)
class CDANOptions:
    lambda_max: float = option(1.0, "Final weight of the reversed domain gradient.", min=0)
    lambda_gamma: float = option(10.0, "How fast it ramps up (as dann's).", min=0)
    entropy: bool = option(False, "Weight each example by 1 + exp(-entropy) of its "
                                  "prediction (CDAN+E).")
    max_multilinear: int = option(4096, "Use the full multilinear map while features x "
                                         "classes is at most this; the randomized one above.",
                                  min=1)
    randomized_dim: int = option(1024, "Output width of the randomized multilinear map.", min=1)


def multilinear(features, probabilities):
    """The outer product g (x) f of each row, flattened class-major (index c * F + f), as
    the reference code's bmm(g.unsqueeze(2), f.unsqueeze(1))."""
    import tensorflow as tf

    outer = probabilities[:, :, None] * features[:, None, :]
    return tf.reshape(outer, [tf.shape(features)[0], -1])


def randomized_multilinear(features, probabilities, r_features, r_classes):
    """(f R_f) * (g R_g) / sqrt(d), R fixed Gaussian matrices (d columns): an unbiased
    estimate of the multilinear map's inner products at width d."""
    import tensorflow as tf

    d = tf.cast(tf.shape(r_features)[1], features.dtype)
    return (features @ r_features) * (probabilities @ r_classes) / tf.sqrt(d)


def entropy_weights(probabilities, n_source):
    """1 + exp(-H(g)) per example, normalised to mean 1 within each domain's rows: the
    reference code normalises each domain's weights to sum 1 and averages the domains, so
    each domain weighs half, whatever its predictions' confidence."""
    import tensorflow as tf

    w = 1.0 + tf.exp(-entropy(probabilities))
    ws, wt = w[:n_source], w[n_source:]
    return tf.concat([ws / tf.reduce_mean(ws), wt / tf.reduce_mean(wt)], axis=0)


def fixed_projection(name: str, in_width: int, out_width: int):
    """A standard-normal matrix, drawn once and never trained: one of the randomized map's
    R. A network of its own so the checkpoint keeps it and a resumed run has the same."""
    import keras

    return keras.Sequential([keras.Input(shape=(in_width,)), keras.layers.Dense(
        out_width, use_bias=False, trainable=False, name=f"{name}_matrix",
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.0))], name=name)


class CDAN(Method):
    """Conditional domain-adversarial networks (Long et al., NeurIPS 2018): the domain
    classifier sees the multilinear map of the features and the class probabilities (the
    randomized map when features x classes exceeds 4096, as the paper), through gradient
    reversal with DANN's schedule. The probabilities are conditioning only: no gradient
    flows through them (as the reference code's .detach()). With entropy=true, CDAN+E:
    examples with confident predictions weigh more (lib/adapt/methods/cdan_e.py)."""

    name = "cdan"
    Options = CDANOptions

    def build(self, width: int, num_classes: int) -> dict:
        if width * num_classes <= self.options.max_multilinear:
            return {"domain_head": domain_head("cdan_domain_head", width * num_classes)}
        d = self.options.randomized_dim
        return {"domain_head": domain_head("cdan_domain_head", d),
                "projection": fixed_projection("cdan_projection", width, d),
                "projection_classes": fixed_projection("cdan_projection_classes",
                                                       num_classes, d)}

    def loss(self, nets, source, target, progress):
        import tensorflow as tf

        zs, zt, logits_s, class_loss, terms = on_both_domains(nets, source, target)
        z = tf.cast(tf.concat([zs, zt], axis=0), tf.float32)
        logits = tf.concat([logits_s, nets.label_head(zt, training=True)], axis=0)
        g = tf.stop_gradient(tf.nn.softmax(tf.cast(logits, tf.float32)))
        if "projection" in nets.own:  # the randomized map: build made its matrices
            h = randomized_multilinear(z, g, nets.own["projection"].weights[0],
                                       nets.own["projection_classes"].weights[0])
        else:
            h = multilinear(z, g)
        n = tf.shape(zs)[0]
        lam = grl_lambda(progress, self.options.lambda_max, self.options.lambda_gamma)
        weights = entropy_weights(g, n) if self.options.entropy else None
        domain_loss, domain_terms = domain_classification(
            nets.own["domain_head"](reverse_gradient(h, lam), training=True)[:, 0], n, weights)
        return class_loss + domain_loss, terms | domain_terms | {"grl_lambda": (lam, 1.0)}
