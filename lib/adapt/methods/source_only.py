from __future__ import annotations

from lib.adapt.method import Method, classified


class SourceOnly(Method):
    """The baseline: the shared networks trained on labelled source batches alone. It never
    sees target images, so it has one BatchNorm and normalises target images with it."""

    name = "source-only"
    inputs = ("source",)

    def loss(self, nets, source, target, progress):
        xs, ys = source
        return classified(nets.label_head(nets.features(xs, training=True, domain="source"),
                                          training=True), ys)
