"""The networks every adaptation method shares, after DANN's layout:

    x -> backbone (VGG16 up to the cut; on cached features only its trainable blocks)
      -> bottleneck (Flatten, Dense, BatchNorm, ReLU)  = the features being adapted
      -> label head (the classic head)                  -> class logits
      -> domain head (Dense(256, relu), Dense(1))       -> source-vs-target logit

Methods differ only in which losses they put on top (lib/adapt/methods.py). The
bottleneck's BatchNorm is what keeps the adversarial game stable on VGG16 features,
which carry no normalisation and (caffe-scaled inputs) reach magnitudes in the hundreds.
"""

from __future__ import annotations

from dataclasses import dataclass

DOMAIN_HEAD_WIDTH = 256


@dataclass(frozen=True)
class NetworkPlan:
    weights: str
    native_shape: tuple[int, int, int]
    image_size: int
    feature_layer: str
    top_blocks: int                 # backbone conv blocks that train; 0 = frozen
    num_classes: int
    bottleneck: int                 # width of the adapted features
    feature_shape: tuple[int, ...] | None = None  # set: inputs are cached frozen-block outputs


class Networks:
    def __init__(self, plan: NetworkPlan):
        import keras

        from lib.models import backbone_tail, classic_head, feature_extractor, set_trainable

        if plan.feature_shape is not None:
            self.backbone = backbone_tail(plan.weights, plan.feature_shape, plan.image_size,
                                          plan.feature_layer, plan.top_blocks)
        else:
            self.backbone = feature_extractor(plan.weights, plan.native_shape, plan.image_size,
                                              plan.feature_layer)
            set_trainable(self.backbone, plan.top_blocks)
        self.bottleneck = keras.Sequential([
            keras.Input(shape=self.backbone.output.shape[1:]),
            keras.layers.Flatten(),
            keras.layers.Dense(plan.bottleneck),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
        ], name="bottleneck")
        self.label_head = classic_head((plan.bottleneck,), plan.num_classes)
        self.domain_head = keras.Sequential([
            keras.Input(shape=(plan.bottleneck,)),
            keras.layers.Dense(DOMAIN_HEAD_WIDTH, activation="relu"),
            keras.layers.Dense(1),
        ], name="domain_head")
        # One model over all four, for checkpoints: its weights are every network's.
        x = self.backbone.input
        z = self.bottleneck(self.backbone(x))
        self.whole = keras.Model(x, [self.label_head(z), self.domain_head(z)], name="adapt")

    @property
    def trainable_variables(self):
        return self.whole.trainable_variables

    def features(self, x, training: bool):
        return self.bottleneck(self.backbone(x, training=training), training=training)

    def logits(self, x):
        """Class logits in inference mode: what evaluation calls."""
        return self.label_head(self.features(x, training=False), training=False)
