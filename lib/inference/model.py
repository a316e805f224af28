"""A run's model for inference: one kept epoch's weights in a Keras model that takes RGB
pixels (0-255, the images' own size) and gives class probabilities.

The model is the training network rebuilt on images (a run that trained on cached
features checkpoints only the blocks that train: the frozen ones come from its
--weights, as the cache's did), with every checkpoint weight loaded by name. Caffe
preprocessing is a layer of the model (_caffe_layer: exact in float32), so the model
needs no raydapt to be used. An adapt run's model normalises with the target domain's
BatchNorm: it is the model the run adapted to the target.
"""

from __future__ import annotations

import os

import numpy as np

from lib.errors import DataError, NoInputError, UsageError
from lib.inference.epochs import RunEpoch, run_epoch


def _caffe_layer():
    """lib/data/feed.caffe_preprocess as a Keras layer (a saved model carries no Python):
    a Dense over the channels with a permutation kernel, so every product is by 0 or 1
    (exact) and the bias adds -mean exactly as a subtraction would."""
    import keras

    from lib.data.feed import CAFFE_BGR_MEAN

    layer = keras.layers.Dense(3, trainable=False, name="caffe_preprocess", dtype="float32")
    layer.build((None, 3))
    layer.set_weights([np.eye(3, dtype=np.float32)[::-1], -CAFFE_BGR_MEAN])
    return layer


def _load_by_name(model, checkpoint, frozen_from_weights: set[str], run: str) -> None:
    """Every weight the checkpoint holds goes into `model` by name; what it lacks must be
    a frozen backbone weight, which the model already has from --weights."""
    from lib.train.checkpoint import named_weights

    saved = named_weights(checkpoint)
    own = {w.path: w for w in model.weights}
    homeless = sorted(set(saved) - set(own))
    if homeless:
        raise DataError(f"run {run}: checkpoint weight {homeless[0]} has no place in the "
                        f"model rebuilt from its config ({len(homeless)} such)")
    missing = sorted(name for name in own if name not in saved
                     and name not in frozen_from_weights)
    if missing:
        raise DataError(f"run {run}: weight {missing[0]} is in neither the checkpoint nor the "
                        f"run's --weights ({len(missing)} such)")
    for name, value in saved.items():
        if tuple(value.shape) != tuple(own[name].shape):
            raise DataError(f"run {run}: weight {name} is {tuple(value.shape)} in the "
                            f"checkpoint, {tuple(own[name].shape)} in the model")
        own[name].assign(value)


def _frozen_names(backbone, top_blocks: int, weights: str) -> set[str]:
    """The backbone weights a cached run never checkpointed: its frozen blocks'. From
    random weights (--weights none) they cannot be had again."""
    from lib.models import trainable_blocks

    vgg = backbone.get_layer("vgg16")
    training = trainable_blocks(vgg, top_blocks)
    frozen = {w.path for layer in vgg.layers if layer.name.split("_")[0] not in training
              for w in layer.weights}
    return frozen if weights != "none" else set()


def build(run: RunEpoch):
    """The Keras model of `run`'s epoch: pixels -> probabilities."""
    import keras

    from lib.models import parse_trainable

    cfg, meta = run.config, run.meta
    policy = keras.mixed_precision.global_policy()
    if cfg.optim.precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        top_blocks = parse_trainable(cfg.model.trainable)
        image_shape = tuple(meta["image_shape"])
        classes = len(meta["class_names"])
        pixels = keras.Input(shape=image_shape, name="pixels")
        x = _caffe_layer()(pixels)
        build_networks = _adapt_networks if run.job == "adapt" else _finetune_network
        trained, backbone, path = build_networks(cfg, image_shape, top_blocks, classes)
        _load_by_name(trained, run.checkpoint,
                      _frozen_names(backbone, top_blocks, cfg.model.weights), run.name)
        logits = path(x)  # after the load: a merged BatchNorm copies loaded weights
        probabilities = keras.layers.Softmax(name="probabilities", dtype="float32")(logits)
        return keras.Model(pixels, probabilities, name=f"raydapt_{run.job}")
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _finetune_network(cfg, image_shape, top_blocks: int, classes: int):
    """(the run's model on images, what holds its vgg16, the path of an image through it)."""
    from lib.models import ModelPlan, build_model

    model = build_model(ModelPlan(cfg.model.weights, image_shape, cfg.data.image_size,
                                  cfg.model.feature_layer, top_blocks, classes))
    return model, model, model  # the classifier holds the backbone's vgg16 itself


def _adapt_networks(cfg, image_shape, top_blocks: int, classes: int):
    """(the run's networks on images, its method's too: their weights are in the
    checkpoint; the backbone; the path of a target image through them)."""
    import keras

    from lib.adapt.methods import get_method
    from lib.adapt.networks import NetworkPlan, Networks

    adapt = cfg.adapt
    method = get_method(adapt.method, adapt.method_opt)
    nets = Networks(NetworkPlan(cfg.model.weights, image_shape, cfg.data.image_size,
                                cfg.model.feature_layer, top_blocks, classes,
                                adapt.bottleneck, adapt.domain_norm), method)

    def target_path(x):  # the method's classification of the target's adapted features
        h = nets.bottleneck(nets.backbone(x))
        return method.classify(nets, keras.layers.ReLU()(_target_norm(nets)(h)))

    return nets.whole, nets.backbone, target_path


def _target_norm(nets):
    """The target domain's BatchNorm as one Keras layer. "statistics" normalises with the
    target's statistics and the source's scale and shift (two layers in training): here
    one BatchNormalization holding those four."""
    import keras

    if nets.mode != "statistics":
        return nets.norms["target"]
    source, target = nets.norms["source"], nets.norms["target"]
    merged = keras.layers.BatchNormalization(epsilon=target.epsilon,
                                             name="bottleneck_norm_target_export")
    merged.build((None, source.gamma.shape[0]))
    merged.set_weights([source.gamma.numpy(), source.beta.numpy(),
                        target.moving_mean.numpy(), target.moving_variance.numpy()])
    return merged


class RunModel:
    """A run's kept epoch as a model: `metadata`, `probabilities(images)` (built at first use)."""

    kind = "run"

    def __init__(self, run: RunEpoch):
        self.run, self.metadata, self._model = run, run.metadata(), None

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        if self._model is None:
            self._model = build(self.run)
        return self._model(images.astype(np.float32), training=False).numpy()


def open_model(location: str, epoch: str = "selected"):
    """A run directory's epoch (RunModel) or an exported model file (files.ModelFile)."""
    from lib.inference.files import ModelFile, kind_of

    if "://" in location or kind_of(location) == "run":
        return RunModel(run_epoch(location, epoch))
    if not os.path.exists(location):
        raise NoInputError(f"no run or model at {location}")
    if epoch != "selected":
        raise UsageError(f"--epoch {epoch}: an exported model has one epoch; --epoch is for "
                         f"runs")
    return ModelFile(location)
