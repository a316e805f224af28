"""What an adaptation method is: one class, in its own module under lib/adapt/methods/.

As in DomainBed, a method owns its networks, its hyperparameters and its loss; the
networks every method shares (backbone, bottleneck, per-domain normalisation, label
head: lib/adapt/networks.py), the optimiser, distribution, schedules, evaluation and
selection are the same for all, so every method trains and is measured the same way.

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
  build(width, classes) the networks it owns besides the shared ones ({name: keras model})
  loss(...)            the scalar to minimise and its named terms

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
        self.networks: dict = {}

    def normalisation(self, requested: str) -> str:
        """What --domain-norm `requested` means for this method: "auto" is its own."""
        return self.domain_norm if requested == "auto" else requested

    def build(self, width: int, num_classes: int) -> dict:
        """The networks this method owns, built under the strategy's scope. `width` is the
        bottleneck's (the adapted features'), `num_classes` the label space's."""
        return {}

    def loss(self, nets, source, target, progress, global_batch: int):
        """(loss to minimise, terms). `source` is (x, y); `target` is (x,) or (x, y) for a
        method that reads target labels. `progress` is the training progress in [0, 1]
        (a float32 tensor). The loss must be this replica's share of the global mean:
        summed over replicas it is the loss of the global batch."""
        raise NotImplementedError


def replicas() -> int:
    import tensorflow as tf

    return tf.distribute.get_replica_context().num_replicas_in_sync


def classified(logits, y, global_batch: int):
    """Cross-entropy averaged over the global batch, and the "loss" and "accuracy" terms."""
    import keras
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)
    per_example = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y),
                                    tf.float32))
    n = tf.cast(tf.size(y), tf.float32)
    return (tf.nn.compute_average_loss(per_example, global_batch_size=global_batch),
            {"loss": (tf.reduce_sum(per_example), n), "accuracy": (correct, n)})


def entropy(probabilities):
    """Shannon entropy of each row, in nats; 1e-5 inside the log as the reference code
    (Transfer-Learning-Library's tllib.modules.entropy) has it."""
    import tensorflow as tf

    return -tf.reduce_sum(probabilities * tf.math.log(probabilities + 1e-5), axis=-1)


def domain_head(name: str, in_width: int, hidden: int = 256):
    """A source-vs-target classifier: Dense(hidden, relu) -> Dense(1), a logit. Its layers
    are named after it: checkpoints and --init-from match weights by name."""
    import keras

    return keras.Sequential([keras.Input(shape=(in_width,)),
                             keras.layers.Dense(hidden, activation="relu", name=f"{name}_hidden"),
                             keras.layers.Dense(1, name=f"{name}_logit")], name=name)


def domain_classification(logits, n_source, global_batch: int, weights=None):
    """Binary cross-entropy of a domain classifier's logits on [source; target] rows
    (source is 1), optionally weighted per row; and the "domain_loss", "domain_accuracy"
    terms. The loss is this replica's share of the mean over the global batch of both
    domains (2 x global_batch rows), so summing over replicas gives that mean."""
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)
    total = tf.shape(logits)[0]
    is_source = tf.concat([tf.ones([n_source]), tf.zeros([total - n_source])], axis=0)
    per_row = tf.nn.sigmoid_cross_entropy_with_logits(is_source, logits)
    weighted = per_row if weights is None else per_row * weights
    hits = tf.reduce_sum(tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), is_source),
                                 tf.float32))
    count = tf.cast(total, tf.float32)
    loss = tf.nn.compute_average_loss(weighted, global_batch_size=2 * global_batch)
    return loss, {"domain_loss": (tf.reduce_sum(weighted), count),
                  "domain_accuracy": (hits, count)}
