"""One distributed adaptation step, whatever the method."""

from __future__ import annotations


def make_adapt_step(strategy, nets, optimizer, method, global_batch: int):
    """A tf.function: every replica computes the method's loss on its share of the source
    and target batches; Keras' optimizer sums the gradients over replicas. Returns the
    method's per-replica sums. Networks a method does not use (the domain head of
    source-only) get no gradient and are left alone."""
    import tensorflow as tf

    def replica_step(source, target, lam):
        with tf.GradientTape() as tape:
            loss, sums = method.loss(nets, source, target, lam, global_batch)
        variables = nets.trainable_variables
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        return sums

    @tf.function
    def step(source, target, lam):
        return strategy.run(replica_step, args=(source, target, lam))

    return step
