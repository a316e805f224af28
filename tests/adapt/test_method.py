"""The method contract's shared arithmetic: a loss is a plain mean over a replica's
batch, and minimise makes N replicas step as one on the whole batch."""

from tests.replicas import compare

REPLICA_LOOP = """
from lib.adapt.method import classified, minimise
for replicas in (2, 1):
    strategy, model, optimizer = dense_model(replicas)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            loss, terms = classified(model(x, training=True), y)
        minimise(tape, loss, [(optimizer, model.trainable_variables)])
        return terms["loss"][0]

    step = tf.function(lambda x, y: strategy.run(replica_step, args=(x, y)))
    total = 0.0
    for k in range(3):
        x, y = distribute_batch(strategy, (xs[k], ys[k]), replicas)
        total += float(strategy.reduce("SUM", step(x, y), axis=None))
    final[replicas] = {"weights": [w.tolist() for w in model.get_weights()],
                       "loss_sum": total, "replicas": strategy.num_replicas_in_sync}
"""


def test_two_replicas_of_a_plain_mean_step_exactly_as_one_with_the_whole_batch():
    """Each replica's loss is the mean over its own 4 rows; minimise divides its gradient
    by the 2 replicas, and the optimizer sums them: the step of the mean over all 8.
    Without the division every step would be twice as large. Outside Ray (2 logical CPUs
    in a fresh process): seconds."""
    compare(REPLICA_LOOP)
