"""The compiled steps: one distributed training step and a plain evaluation pass."""

from __future__ import annotations

import numpy as np


def make_train_steps(strategy, model, optimizer, global_batch: int, augment: bool = False):
    """A tf.function running `count` consecutive steps per call, on batches stacked as
    (steps, batch, ...) and split over replicas along the batch axis (a stack of one for
    one step). Returns this worker's (loss sum, correct count) over them. The loss is
    averaged over the *global* batch (compute_average_loss), so summing gradients across
    replicas gives the gradient of the global mean: N workers step exactly like one worker
    with N x batch. `augment`: flip and shift the images first (lib/train/augment.py)."""
    import keras
    import tensorflow as tf

    from lib.train.augment import flip_and_shift

    def replica_step(xs, ys, i):
        x, y = xs[i], ys[i]
        if augment:
            x = flip_and_shift(x)
        with tf.GradientTape() as tape:
            logits = tf.cast(model(x, training=True), tf.float32)
            per_example = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y),
                                        tf.float32))
        return tf.reduce_sum(per_example), correct

    def local_total(per_replica):
        return tf.add_n(list(strategy.experimental_local_results(per_replica)))

    @tf.function
    def steps(stacked, count):
        xs, ys = stacked
        loss_sum, correct = tf.constant(0.0), tf.constant(0.0)
        for i in tf.range(count):
            result = strategy.run(replica_step, args=(xs, ys, i))
            loss_sum += local_total(result[0])
            correct += local_total(result[1])
        return loss_sum, correct

    return steps


def local_sum(strategy, per_replica) -> float:
    """Sum a per-replica value over this worker's replicas, on the host (no collective)."""
    return float(sum(np.asarray(v) for v in strategy.experimental_local_results(per_replica)))


def epoch_totals(strategy, local: dict, local_replicas: int) -> dict[str, tuple[float, float]]:
    """{term: (sum, count)} over every worker from this worker's {term: [sum, count]}: one
    collective at the end of an epoch."""
    import tensorflow as tf

    keys = sorted(local)
    values = [v for k in keys for v in local[k]]

    def value(ctx):
        # Each worker's total enters once, through its first local replica.
        first = ctx.replica_id_in_sync_group % local_replicas == 0
        return tf.constant(values if first else [0.0] * len(values), tf.float64)

    per_replica = strategy.experimental_distribute_values_from_function(value)
    flat = strategy.reduce("SUM", per_replica, axis=None).numpy().tolist()
    return {k: (flat[2 * i], flat[2 * i + 1]) for i, k in enumerate(keys)}


def make_predict(model):
    import tensorflow as tf

    @tf.function
    def predict(x):
        return tf.cast(model(x, training=False), tf.float32)

    return predict


def evaluate(predict, batches, num_classes: int) -> dict:
    """Loss, accuracy, per-class accuracy and confusion matrix over every batch given."""
    logits, labels = [], []
    for batch in batches:
        logits.append(predict(batch["x"]).numpy())
        labels.append(batch["label"])
    if not logits:
        return score_logits(np.zeros((0, num_classes)), np.zeros(0, np.int64), num_classes)
    return score_logits(np.concatenate(logits), np.concatenate(labels), num_classes)


def per_example_loss(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels]


def score_logits(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, logits.argmax(axis=1)), 1)
    n = len(labels)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return {"num_examples": n, "loss": float(per_example_loss(logits, labels).sum() / max(n, 1)),
            "accuracy": float(confusion.diagonal().sum() / max(n, 1)),
            "per_class_accuracy": per_class.tolist(), "confusion": confusion.tolist()}
