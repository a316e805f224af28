"""One distributed adaptation step, whatever the method."""

from __future__ import annotations


def make_adapt_step(strategy, nets, optimizer, method, global_batch: int):
    """A tf.function: every replica computes the method's loss on its share of the source
    and target batches; Keras' optimizer sums the gradients over replicas. Returns the
    method's per-replica terms. Networks a loss does not reach (the target's BatchNorm
    scale under source-only) get no gradient and are left alone. `progress` is a float32
    tensor (a new Python value would retrace the step every call)."""
    import tensorflow as tf

    def replica_step(source, target, progress):
        with tf.GradientTape() as tape:
            loss, terms = method.loss(nets, source, target, progress, global_batch)
        variables = nets.trainable_variables
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        return terms

    @tf.function
    def step(source, target, progress):
        return strategy.run(replica_step, args=(source, target, progress))

    return step
