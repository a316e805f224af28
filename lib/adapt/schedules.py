"""DANN's two schedules over training progress p in [0, 1] (Ganin et al., JMLR 2016, 5.2.2).

lambda(p) = lambda_max * (2 / (1 + exp(-gamma p)) - 1): the domain signal starts at 0,
while the classifier and domain head are still noise, so early, meaningless domain
gradients cannot wreck the pretrained features. lr(p) = lr0 / (1 + alpha p)^beta: the
annealing the paper pairs with it; alpha = 0 turns it off.
"""

from __future__ import annotations


def grl_lambda(progress, lambda_max: float, gamma: float):
    """A float32 tensor; `progress` a float or a tensor (inside a compiled step)."""
    import tensorflow as tf

    progress = tf.clip_by_value(tf.cast(progress, tf.float32), 0.0, 1.0)
    return lambda_max * (2.0 / (1.0 + tf.exp(-gamma * progress)) - 1.0)


def annealed_rate(learning_rate: float, alpha: float, beta: float, total_steps: int):
    """A Keras schedule of the optimizer's own step count, so a restored optimizer state
    resumes the schedule where it stopped."""
    import keras
    import tensorflow as tf

    class Annealed(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            progress = tf.minimum(tf.cast(step, tf.float32) / float(max(total_steps, 1)), 1.0)
            return learning_rate / tf.pow(1.0 + alpha * progress, beta)

        def get_config(self):
            return {"learning_rate": learning_rate, "alpha": alpha, "beta": beta,
                    "total_steps": total_steps}

    return Annealed()


def scaled_rate(learning_rate, multiplier: float, updates: int = 1):
    """`learning_rate` (a float or a Keras schedule of the optimizer's own step count)
    times `multiplier`, for an optimizer that steps `updates` times a batch: a parameter
    group's rate (lib/adapt/method.Method.parameter_groups, updates_per_step), its
    schedule following the batches, not the updates."""
    import keras

    if not callable(learning_rate):
        return learning_rate * multiplier
    if multiplier == 1 and updates == 1:
        return learning_rate

    class Scaled(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return multiplier * learning_rate(step // updates)

        def get_config(self):
            return {"multiplier": multiplier, "updates": updates,
                    "base": learning_rate.get_config()}

    return Scaled()
