"""What an adaptation method is: one class, in its own module under lib/adapt/methods/.

As in DomainBed, a method owns its networks, its hyperparameters, its optimizers and its
update; the networks every method shares (backbone, bottleneck, per-domain
normalisation, label head: lib/adapt/networks.py), distribution, schedules, evaluation
and selection are the same for all, so every method trains and is measured the same way.

A method says:
  name                 its --method name
  reads_target_labels  whether its training reads target labels (the oracle only). Target
                       batches of the others arrive without labels at all: the data feed
                       drops them (lib/adapt/data.py), so such a method cannot read them.
  inputs               the domains whose training batches it feeds through the networks
  domain_norm          how the bottleneck normalises the domains unless --domain-norm says
                       otherwise (lib/adapt/networks.py)
  Options              its hyperparameters: a frozen dataclass of `option(...)` fields with
                       defaults and help; `--method-opt NAME=VALUE` sets them
  build(width, classes) the networks it owns besides the shared ones ({name: keras
                       model}); they reach its loss as `nets.own`
  parameter_groups(nets) {group: (variables, learning-rate multiplier)}: one optimizer
                       each (default: every trainable variable at the base rate)
  updates_per_step()   {group: how often its optimizer steps a batch}, where not once: the
                       learning-rate schedule follows batches
  update(...)          one replica's update (default: one gradient step of `loss` with
                       every group's optimizer); a method with phases overrides it
  loss(...)            the scalar to minimise and its named terms
  classify(nets, z)    its class logits of adapted features: evaluation and export

Losses are plain means over this replica's batch: `minimise` turns them into the
replica's share of the global batch's mean, so no method does replica arithmetic.
Terms are {name: (sum, count)} per replica; the loop sums both over the epoch and all
workers and records sum / count. Every method has "loss" and "accuracy" (its
classification on labelled batches); anything else lands in the epoch table's `terms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class NoOptions:
    """A method without hyperparameters of its own."""


class Method:
    name: ClassVar[str]
    reads_target_labels: ClassVar[bool] = False
    inputs: ClassVar[tuple[str, ...]] = ("source", "target")
    domain_norm: ClassVar[str] = "separate"
    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any = None):
        self.options = options if options is not None else self.Options()

    def normalisation(self, requested: str) -> str:
        """What --domain-norm `requested` means for this method: "auto" is its own."""
        return self.domain_norm if requested == "auto" else requested

    def build(self, width: int, num_classes: int) -> dict:
        """The networks this method owns, built under the strategy's scope. `width` is the
        bottleneck's (the adapted features'), `num_classes` the label space's."""
        return {}

    def parameter_groups(self, nets) -> dict:
        return {"all": (nets.trainable_variables, 1.0)}

    def updates_per_step(self) -> dict:
        return {}

    def update(self, nets, optimizers: dict, source, target, progress) -> dict:
        """One replica's update on its share of the batch, inside the strategy's run:
        `optimizers` is {group: (optimizer, variables)}. Returns the terms."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, terms = self.loss(nets, source, target, progress)
        minimise(tape, loss, optimizers.values())
        return terms

    def loss(self, nets, source, target, progress):
        """(loss to minimise, terms). `source` is (x, y); `target` is (x,) or (x, y) for a
        method that reads target labels. `progress` is the training progress in [0, 1]
        (a float32 tensor). The loss is a plain mean over this replica's batch."""
        raise NotImplementedError

    def classify(self, nets, z, training: bool = False):
        """Class logits of adapted features (Keras layers only: export calls it on
        symbolic tensors)."""
        return nets.label_head(z, training=training)


def minimise(tape, loss, groups) -> None:
    """Apply the gradient of `loss`, a plain mean over this replica's batch, with each
    group's (optimizer, variables). Divided by the replicas in sync here: Keras' optimizer
    sums the replicas' gradients, so N replicas of equal batches step as one on the
    global batch. Variables the loss does not reach (the target's BatchNorm scale under
    source-only) get no gradient and are left alone."""
    import tensorflow as tf

    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    groups = list(groups)
    # The gradient of loss / replicas, as the tape recorded only the loss.
    grads = iter(tape.gradient(loss, [v for _, group in groups for v in group],
                               output_gradients=tf.constant(1.0 / replicas, loss.dtype)))
    for optimizer, group in groups:
        # The group first: zip stops at its end without taking the next group's gradient.
        pairs = [(g, v) for v, g in zip(group, grads) if g is not None]
        if pairs:
            optimizer.apply_gradients(pairs)


def on_both_domains(nets, source, target):
    """Where a loss on both domains starts: their features through one pass
    (nets.features_of_both), and the source's label-head logits and classification.
    Returns (source features, target features, source logits, class loss, terms)."""
    (xs, ys), (xt, *_) = source, target
    zs, zt = nets.features_of_both(xs, xt, training=True)
    logits = nets.label_head(zs, training=True)
    return zs, zt, logits, *classified(logits, ys)


def classified(logits, y):
    """Cross-entropy averaged over the batch, and the "loss" and "accuracy" terms."""
    import keras
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)
    per_example = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y),
                                    tf.float32))
    n = tf.cast(tf.size(y), tf.float32)
    return (tf.reduce_mean(per_example), {"loss": (tf.reduce_sum(per_example), n), "accuracy": (correct, n)})


def entropy(probabilities):
    """Shannon entropy of each row, in nats; 1e-5 inside the log as the reference code
    (Transfer-Learning-Library's tllib.modules.entropy) has it."""
    import tensorflow as tf

    return -tf.reduce_sum(probabilities * tf.math.log(probabilities + 1e-5), axis=-1)


def dense_head(name: str, in_width: int, outputs: int, layers: tuple[str, str] = ("dense", "logits")):
    """Dense(256, relu) -> Dense(outputs) on features of `in_width`: the label head's shape
    (lib.models.classic_head). Its layers are named after it ({name}_{layer}): checkpoints
    and --init-from match weights by name."""
    import keras

    return keras.Sequential([keras.Input(shape=(in_width,)),
                             keras.layers.Dense(256, activation="relu", name=f"{name}_{layers[0]}"),
                             keras.layers.Dense(outputs, name=f"{name}_{layers[1]}")], name=name)


def domain_head(name: str, in_width: int):
    """A source-vs-target classifier: one logit."""
    return dense_head(name, in_width, 1, ("hidden", "logit"))


def domain_classification(logits, n_source, weights=None):
    """Binary cross-entropy of a domain classifier's logits on [source; target] rows
    (source is 1), optionally weighted per row, averaged over the rows of both domains;
    and the "domain_loss", "domain_accuracy" terms."""
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)
    total = tf.shape(logits)[0]
    is_source = tf.concat([tf.ones([n_source]), tf.zeros([total - n_source])], axis=0)
    per_row = tf.nn.sigmoid_cross_entropy_with_logits(is_source, logits)
    weighted = per_row if weights is None else per_row * weights
    hits = tf.reduce_sum(tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), is_source),
                                 tf.float32))
    count = tf.cast(total, tf.float32)
    return tf.reduce_mean(weighted), {"domain_loss": (tf.reduce_sum(weighted), count),
                                      "domain_accuracy": (hits, count)}
