"""The networks every adaptation method shares, after DANN's layout:

    x -> backbone (VGG16 up to the cut; on cached features only its trainable blocks)
      -> bottleneck (Flatten, Dense), BatchNorm, ReLU   = the features being adapted
      -> label head (the classic head)                  -> class logits
      -> domain head (Dense(256, relu), Dense(1))       -> source-vs-target logit

Methods differ only in which losses they put on top (lib/adapt/methods.py). The
bottleneck's BatchNorm is what keeps the adversarial game stable on VGG16 features,
which carry no normalisation and (caffe-scaled inputs) reach magnitudes in the hundreds.

`domain_norm`: "shared" normalises a source+target batch with one BatchNorm, as in the
original DANN; "separate" gives each domain its own (statistics, scale and shift:
domain-specific batch normalisation, Chang et al., CVPR 2019), so a shift that moves
feature statistics (contrast, fog) is taken out by normalisation and the adversarial
loss is left with what normalisation cannot align. A domain has its own BatchNorm only
if the method trains on its images (`domains`): a method that sees one domain (source-only,
oracle) has one BatchNorm and normalises the other domain with it, so for those methods
both settings build the same network.
"""

from __future__ import annotations

from dataclasses import dataclass

DOMAIN_HEAD_WIDTH = 256
DOMAINS = ("source", "target")


@dataclass(frozen=True)
class NetworkPlan:
    weights: str
    native_shape: tuple[int, int, int]
    image_size: int
    feature_layer: str
    top_blocks: int                 # backbone conv blocks that train; 0 = frozen
    num_classes: int
    bottleneck: int                 # width of the adapted features
    domain_norm: str                # "separate" or "shared" (lib.config.DOMAIN_NORMS)
    feature_shape: tuple[int, ...] | None = None  # set: inputs are cached frozen-block outputs


class Networks:
    def __init__(self, plan: NetworkPlan, domains: tuple[str, ...]):
        """`domains`: the domains whose training images the method feeds (its `inputs`)."""
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
        ], name="bottleneck")
        self.separate = plan.domain_norm == "separate" and len(domains) == 2
        if self.separate:
            self.norms = {d: keras.layers.BatchNormalization(name=f"bottleneck_norm_{d}")
                          for d in DOMAINS}
        else:
            norm = keras.layers.BatchNormalization(name="bottleneck_norm")
            self.norms = dict.fromkeys(DOMAINS, norm)
        self.label_head = classic_head((plan.bottleneck,), plan.num_classes)
        self.domain_head = keras.Sequential([
            keras.Input(shape=(plan.bottleneck,)),
            keras.layers.Dense(DOMAIN_HEAD_WIDTH, activation="relu"),
            keras.layers.Dense(1),
        ], name="domain_head")
        # One model over all of them, for checkpoints: its weights are every network's.
        x = self.backbone.input
        h = self.bottleneck(self.backbone(x))
        outputs = []
        for norm in dict.fromkeys(self.norms.values()):
            z = keras.layers.ReLU()(norm(h))
            outputs += [self.label_head(z), self.domain_head(z)]
        self.whole = keras.Model(x, outputs, name="adapt")

    @property
    def trainable_variables(self):
        return self.whole.trainable_variables

    def features(self, x, training: bool, domain: str):
        """The adapted features of one domain's images."""
        import tensorflow as tf

        h = self.bottleneck(self.backbone(x, training=training), training=training)
        return tf.nn.relu(self.norms[domain](h, training=training))

    def features_of_both(self, source, target, training: bool):
        """(source features, target features), through one backbone pass: with a shared
        BatchNorm the batch statistics are those of both domains together."""
        import tensorflow as tf

        n = tf.shape(source)[0]
        h = self.bottleneck(self.backbone(tf.concat([source, target], axis=0),
                                          training=training), training=training)
        if self.separate:
            return (tf.nn.relu(self.norms["source"](h[:n], training=training)),
                    tf.nn.relu(self.norms["target"](h[n:], training=training)))
        z = tf.nn.relu(self.norms["source"](h, training=training))
        return z[:n], z[n:]
