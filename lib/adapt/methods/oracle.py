from __future__ import annotations

from lib.adapt.method import Method, classified


class Oracle(Method):
    """The ceiling: supervised on the labelled target training images. It reads target
    labels, which unsupervised adaptation may not; every output marks it so."""

    name = "oracle"
    reads_target_labels = True
    inputs = ("target",)

    def loss(self, nets, source, target, progress):
        xt, yt = target
        return classified(nets.label_head(nets.features(xt, training=True, domain="target"),
                                          training=True), yt)
