"""Adaptation methods: one class each, chosen by name (`--method`).

The contract is small, as in DomainBed: a method says whether its training reads
target labels and which batches it feeds through the networks (`inputs`, for images/s),
and turns one source batch and one target batch into a loss plus per-replica sums for
the epoch table (loss_sum, correct, examples; adversarial methods add domain_loss_sum,
domain_correct, domain_examples). Networks, optimiser, distribution, schedules and
evaluation are shared, so every method trains and is measured the same way. Target
batches of methods with `reads_target_labels = False` arrive without labels at all:
the data feed drops them (lib/adapt/data.py), so such a method cannot read them.

Adding a method: a class here, an entry in METHODS; tests/adapt/test_methods.py runs
every entry through the same build-and-step test.
"""

from __future__ import annotations

from typing import ClassVar

from lib.adapt.grl import reverse_gradient
from lib.errors import RaydaptError


class UnknownMethod(RaydaptError, ValueError):
    exit_code = 2


def _classified(logits, y, global_batch: int):
    """Cross-entropy averaged over the global batch, and the epoch table's sums."""
    import keras
    import tensorflow as tf

    per_example = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y),
                                    tf.float32))
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch), \
        {"loss_sum": tf.reduce_sum(per_example), "correct": correct,
         "examples": tf.cast(tf.size(y), tf.float32)}


def _classification(nets, x, y, global_batch: int, domain: str):
    import tensorflow as tf

    logits = tf.cast(nets.label_head(nets.features(x, training=True, domain=domain),
                                     training=True), tf.float32)
    return _classified(logits, y, global_batch)


class SourceOnly:
    """The baseline: the same networks trained on labelled source batches alone."""

    name: ClassVar[str] = "source-only"
    reads_target_labels: ClassVar[bool] = False
    inputs: ClassVar[tuple[str, ...]] = ("source",)

    def loss(self, nets, source, target, lam, global_batch: int):
        xs, ys = source
        return _classification(nets, xs, ys, global_batch, "source")


class Oracle:
    """The ceiling: supervised on the labelled target training images. It reads target
    labels, which unsupervised adaptation may not; every output marks it so."""

    name: ClassVar[str] = "oracle"
    reads_target_labels: ClassVar[bool] = True
    inputs: ClassVar[tuple[str, ...]] = ("target",)

    def loss(self, nets, source, target, lam, global_batch: int):
        xt, yt = target
        return _classification(nets, xt, yt, global_batch, "target")


class DANN:
    """Domain-adversarial training: source classification loss plus a domain classifier
    on the bottleneck features, fed through gradient reversal. Source and target go through
    the backbone as one batch; the bottleneck's BatchNorm normalises them together or each
    with its own (`--domain-norm`, lib/adapt/networks.py)."""

    name: ClassVar[str] = "dann"
    reads_target_labels: ClassVar[bool] = False
    inputs: ClassVar[tuple[str, ...]] = ("source", "target")

    def loss(self, nets, source, target, lam, global_batch: int):
        import tensorflow as tf

        (xs, ys), (xt,) = source, target
        n = tf.shape(xs)[0]
        zs, zt = nets.features_of_both(xs, xt, training=True)
        z = tf.concat([zs, zt], axis=0)
        class_loss, sums = _classified(
            tf.cast(nets.label_head(zs, training=True), tf.float32), ys, global_batch)
        domain_logit = tf.cast(nets.domain_head(reverse_gradient(z, lam), training=True)[:, 0],
                               tf.float32)
        is_source = tf.concat([tf.ones([n]), tf.zeros([tf.shape(xt)[0]])], axis=0)
        per_domain = tf.nn.sigmoid_cross_entropy_with_logits(is_source, domain_logit)
        # Both averages are over the global batch (source: global_batch, domain: twice that),
        # so summing over replicas yields the gradient of the global means.
        loss = class_loss + tf.nn.compute_average_loss(per_domain,
                                                       global_batch_size=2 * global_batch)
        domain_hit = tf.equal(tf.cast(domain_logit > 0, tf.float32), is_source)
        return loss, sums | {
            "domain_loss_sum": tf.reduce_sum(per_domain),
            "domain_correct": tf.reduce_sum(tf.cast(domain_hit, tf.float32)),
            "domain_examples": tf.cast(tf.size(is_source), tf.float32),
        }


METHODS = {m.name: m for m in (DANN, SourceOnly, Oracle)}


def get_method(name: str):
    if name not in METHODS:
        raise UnknownMethod(f"--method {name!r}: use one of {', '.join(METHODS)}")
    return METHODS[name]()
