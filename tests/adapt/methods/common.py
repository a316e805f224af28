"""What the per-method tests share: a small network on fake cached features, two domains
that differ by an offset, and numpy references the losses are checked against."""

import numpy as np

from lib.adapt.methods import get_method
from lib.adapt.networks import NetworkPlan, Networks

CLASSES, DIM = 3, 24


def build(name, domain_norm="auto", options=(), bottleneck=16):
    import keras

    keras.utils.set_random_seed(0)
    method = get_method(name, options)
    norm = method.normalisation(domain_norm)
    nets = Networks(NetworkPlan("none", (32, 32, 3), 32, "block4_pool", 0, CLASSES, bottleneck,
                                norm, feature_shape=(2, 2, DIM // 4)), method)
    return method, nets


def domains(n, rng):
    """Class signal in the first 4 dims; the target adds a large offset in 4 nuisance
    dims: a shift the label head need not see, which only adaptation removes."""
    y = rng.integers(0, CLASSES, n)
    centres = np.eye(CLASSES, 4) * 4
    xs = rng.normal(size=(n, DIM)) + np.pad(centres[y], ((0, 0), (0, DIM - 4)))
    yt = rng.integers(0, CLASSES, n)
    xt = rng.normal(size=(n, DIM)) + np.pad(centres[yt], ((0, 0), (0, DIM - 4)))
    xt[:, 4:8] += 6.0
    shape = (n, 2, 2, DIM // 4)
    return (xs.reshape(shape).astype(np.float32), y.astype(np.int32),
            xt.reshape(shape).astype(np.float32), yt.astype(np.int32))


def target_of(method, xt, yt):
    """The target batch as the feed gives it: labels only to a method that reads them."""
    return (xt, yt) if method.reads_target_labels else (xt,)


def weights(model):
    return [w.copy() for w in model.get_weights()]


def loss_of(method, nets, xs, ys, xt, yt, progress=0.5):
    """The method's loss (a plain mean over the batch) and terms, as numpy."""
    import tensorflow as tf

    loss, terms = method.loss(nets, (xs, ys), target_of(method, xt, yt),
                              tf.constant(progress, tf.float32))
    return float(loss), {k: (float(s), float(c)) for k, (s, c) in terms.items()}


def features(nets, xs, xt):
    """(source, target) features as the methods see them in a training step (batch
    statistics), as numpy."""
    zs, zt = nets.features_of_both(xs, xt, training=True)
    return zs.numpy(), zt.numpy()


def log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy(logits, labels):
    return -log_softmax(logits)[np.arange(len(labels)), labels]


def sigmoid_cross_entropy(logits, labels):
    logits = np.asarray(logits, np.float64)
    return np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))


def lam(progress, lambda_max, gamma):
    return lambda_max * (2 / (1 + np.exp(-gamma * progress)) - 1)
