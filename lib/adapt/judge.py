"""Rank 0's look at the model after each epoch: accuracy on the evaluation splits, the
label-free selection criteria, and the proxy A-distance of the adapted features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib.adapt.selection import deep_embedded_validation, proxy_a_distance, soft_neighbourhood_density
from lib.data.feed import InMemoryShard
from lib.train.steps import per_example_loss, score_logits

EVAL_BATCH = 256
# Which domain's normalisation each split's images go through (lib/adapt/networks.py).
SPLIT_DOMAIN = {"source_sample": "source", "source_val": "source",
                "target_sample": "target", "target_test": "target"}


@dataclass
class Verdict:
    epoch: int
    criteria: dict          # snd, dev: label-free, one number each
    scores: dict            # split name -> score_logits(...)
    distance: dict          # a domain_distance row
    embeddings: list[dict]  # embeddings rows
    class_names: tuple[str, ...]

    def evals(self, eval_splits) -> list[dict]:
        return [self.scores[name] | {"epoch": self.epoch, "split": name, "dataset": dataset,
                                     "class_names": list(self.class_names)}
                for name, dataset in eval_splits]


class EpochJudge:
    """`splits`: what rank 0 scores, unsplit: source_sample and target_sample (training
    rows in memory, target without labels), and the evaluation splits (in memory, or Ray
    Data shards of images). The logits are the method's `classify` (default: the label
    head)."""

    def __init__(self, nets, splits: dict, class_names, embedding_samples: int, method=None):
        import tensorflow as tf

        splits = dict(splits)
        self.samples = {name: splits.pop(name) for name in ("source_sample", "target_sample")}
        self.eval_splits = splits
        self.class_names = tuple(class_names)
        self.embedding_samples = embedding_samples

        @tf.function  # traced once per domain: `domain` is a Python string
        def embed(x, domain):
            z = nets.features(x, training=False, domain=domain)
            logits = method.classify(nets, z) if method is not None else nets.label_head(z)
            return z, tf.cast(logits, tf.float32)

        self.embed = embed
        self.backbone = tf.function(lambda x: nets.backbone(x, training=False))

    def _batches(self, split):
        if isinstance(split, InMemoryShard):
            return split.batches(EVAL_BATCH)
        return split.iter_batches(batch_size=EVAL_BATCH, batch_format="numpy")

    def _embed(self, name: str, split):
        """(features, logits, labels or None) over a whole split."""
        features, logits, labels = [], [], []
        for batch in self._batches(split):
            z, out = self.embed(batch["x"], SPLIT_DOMAIN[name])
            features.append(z.numpy())
            logits.append(out.numpy())
            if "label" in batch:
                labels.append(batch["label"])
        return (np.concatenate(features), np.concatenate(logits),
                np.concatenate(labels) if labels else None)

    def _embedding_rows(self, epoch: int, representation: str, source, source_labels,
                        target) -> list[dict]:
        n = self.embedding_samples
        return [{"epoch": epoch, "representation": representation, "domain": domain,
                 "label": None if labels is None else int(labels[i]),
                 "features": features[i].reshape(-1).astype(np.float32)}
                for domain, features, labels in (("source", source, source_labels),
                                                 ("target", target, None))
                for i in range(min(n, len(features)))]

    def start(self) -> tuple[dict, list[dict]]:
        """The backbone's features before any adaptation: their proxy A-distance (a
        domain_distance row) and the embedding sample."""
        source_batches = list(self.samples["source_sample"].batches(EVAL_BATCH))
        source = np.concatenate([self.backbone(b["x"]).numpy() for b in source_batches])
        source_labels = np.concatenate([b["label"] for b in source_batches])
        target = np.concatenate([self.backbone(b["x"]).numpy()
                                 for b in self.samples["target_sample"].batches(EVAL_BATCH)])
        distance = {"epoch": -1, "representation": "backbone",
                    "samples": len(source) + len(target),
                    "proxy_a_distance": proxy_a_distance(source, target)}
        return distance, self._embedding_rows(-1, "backbone", source, source_labels, target)

    def judge(self, epoch: int) -> Verdict:
        source_z, _, source_labels = self._embed("source_sample", self.samples["source_sample"])
        target_z, target_logits, _ = self._embed("target_sample", self.samples["target_sample"])
        scores, dev = {}, None
        for name, split in self.eval_splits.items():
            z, logits, labels = self._embed(name, split)
            scores[name] = score_logits(logits, labels, len(self.class_names))
            if name == "source_val":
                dev = deep_embedded_validation(source_z, target_z, z,
                                               per_example_loss(logits, labels))
        return Verdict(
            epoch=epoch,
            criteria={"snd": soft_neighbourhood_density(target_logits), "dev": dev},
            scores=scores,
            distance={"epoch": epoch, "representation": "bottleneck",
                      "samples": len(source_z) + len(target_z),
                      "proxy_a_distance": proxy_a_distance(source_z, target_z)},
            embeddings=self._embedding_rows(epoch, "bottleneck", source_z, source_labels,
                                            target_z),
            class_names=self.class_names)
