"""One distributed adaptation step, whatever the method, and the optimizers it steps."""

from __future__ import annotations


def make_optimizers(method, nets, learning_rate) -> dict:
    """{group: (Adam, its variables)} of the method's parameter groups: each group's rate
    is `learning_rate` (a float or a Keras schedule) times the group's multiplier."""
    import keras

    from lib.adapt.schedules import scaled_rate

    optimizers = {}
    updates = method.updates_per_step()
    for group, (variables, multiplier) in method.parameter_groups(nets).items():
        optimizer = keras.optimizers.Adam(scaled_rate(learning_rate, multiplier,
                                                      updates.get(group, 1)))
        optimizer.build(variables)
        optimizers[group] = (optimizer, list(variables))
    return optimizers


def make_adapt_step(strategy, nets, optimizers: dict, method):
    """A tf.function: every replica runs the method's update on its share of the source
    and target batches (Keras' optimizers sum the gradients over replicas). Returns the
    method's per-replica terms. `progress` is a float32 tensor (a new Python value would
    retrace the step every call)."""
    import tensorflow as tf

    def replica_step(source, target, progress):
        return method.update(nets, optimizers, source, target, progress)

    @tf.function
    def step(source, target, progress):
        return strategy.run(replica_step, args=(source, target, progress))

    return step
