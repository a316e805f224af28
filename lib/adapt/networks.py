"""The networks every adaptation method shares, after DANN's layout:

    x -> backbone (VGG16 up to the cut; on cached features only its trainable blocks)
      -> bottleneck (Flatten, Dense), BatchNorm, ReLU   = the features being adapted
      -> label head (the classic head)                  -> class logits

plus the networks the method owns (its `build`: DANN's domain head, MDD's auxiliary
classifier...), kept here as `own`. The bottleneck's BatchNorm is what keeps the adversarial game stable on
VGG16 features, which carry no normalisation and (caffe-scaled inputs) reach magnitudes in
the hundreds.

`domain_norm`: "shared" normalises a source+target batch with one BatchNorm, as in the
original DANN; "separate" gives each domain its own (statistics, scale and shift:
domain-specific batch normalisation, Chang et al., CVPR 2019), so a shift that moves
feature statistics (contrast, fog) is taken out by normalisation and the adaptation loss
is left with what normalisation cannot align; "statistics" gives each domain its own
statistics but one scale and shift, the source's (AdaBN, Li et al. 2016). A domain has
normalisation of its own only if the method trains on its images (`inputs`): a method that
sees one domain (source-only, oracle) has one BatchNorm and normalises the other domain
with it, so for those methods every setting builds the same network.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    domain_norm: str                # separate, shared or statistics (not auto: resolved)
    feature_shape: tuple[int, ...] | None = None  # set: inputs are cached frozen-block outputs


class Networks:
    def __init__(self, plan: NetworkPlan, method):
        """The shared networks for `method` (the domains it trains on decide the
        normalisation), and the method's own (`own`, by the names its build gave)."""
        import keras

        from lib.models import build_backbone, classic_head

        self.backbone = build_backbone(plan)
        self.bottleneck = keras.Sequential([
            keras.Input(shape=self.backbone.output.shape[1:]),
            keras.layers.Flatten(),
            keras.layers.Dense(plan.bottleneck, name="bottleneck_dense"),
        ], name="bottleneck")
        self.mode = plan.domain_norm if len(method.inputs) == 2 else "shared"
        if self.mode == "separate":
            self.norms = {d: keras.layers.BatchNormalization(name=f"bottleneck_norm_{d}")
                          for d in DOMAINS}
        elif self.mode == "statistics":  # the target's statistics, the source's scale and shift
            self.norms = {"source": keras.layers.BatchNormalization(name="bottleneck_norm_source"),
                          "target": keras.layers.BatchNormalization(
                              center=False, scale=False, name="bottleneck_statistics_target")}
        else:
            self.norms = dict.fromkeys(DOMAINS, keras.layers.BatchNormalization(
                name="bottleneck_norm"))
        self.label_head = classic_head((plan.bottleneck,), plan.num_classes)
        self.own = method.build(plan.bottleneck, plan.num_classes)
        # One model over all of them, for checkpoints and the optimiser: its weights are
        # every network's, the method's included (each its own input).
        x = self.backbone.input
        h = self.bottleneck(self.backbone(x))
        outputs = [self.label_head(keras.layers.ReLU()(norm(h)))
                   for norm in dict.fromkeys(self.norms.values())]
        inputs = [x]
        for network in self.own.values():
            inputs.append(keras.Input(shape=network.input_shape[1:]))
            outputs.append(network(inputs[-1]))
        self.whole = keras.Model(inputs, outputs, name="adapt")

    @property
    def trainable_variables(self):
        return self.whole.trainable_variables

    def _normalised(self, h, domain: str, training: bool):
        import tensorflow as tf

        z = self.norms[domain](h, training=training)
        if self.mode == "statistics" and domain == "target":
            source = self.norms["source"]
            z = z * tf.cast(source.gamma, z.dtype) + tf.cast(source.beta, z.dtype)
        return tf.nn.relu(z)

    def features(self, x, training: bool, domain: str):
        """The adapted features of one domain's images."""
        h = self.bottleneck(self.backbone(x, training=training), training=training)
        return self._normalised(h, domain, training)

    def features_of_both(self, source, target, training: bool):
        """(source features, target features), through one backbone pass: with a shared
        BatchNorm the batch statistics are those of both domains together."""
        import tensorflow as tf

        n = tf.shape(source)[0]
        h = self.bottleneck(self.backbone(tf.concat([source, target], axis=0),
                                          training=training), training=training)
        if self.mode == "shared":
            z = self._normalised(h, "source", training)
            return z[:n], z[n:]
        return (self._normalised(h[:n], "source", training),
                self._normalised(h[n:], "target", training))
