"""Rank 0's judge of an adaptation run after each epoch (lib/train/worker.py): accuracy on
the evaluation splits, the label-free selection criteria, and the proxy A-distance of the
adapted features."""

from __future__ import annotations

import numpy as np

from lib.adapt import selection
from lib.data.feed import InMemoryShard
from lib.train.steps import per_example_loss, score_logits
from lib.train.worker import Verdict

EVAL_BATCH = 256
# Which domain's normalisation each split's images go through (lib/adapt/networks.py).
SPLIT_DOMAIN = {"source_sample": "source", "source_val": "source",
                "target_sample": "target", "target_test": "target"}


class EpochJudge:
    """`splits`: what rank 0 scores, unsplit: source_sample and target_sample (training
    rows in memory, target without labels), and the evaluation splits (in memory, or Ray
    Data shards of images), whose (name, dataset) `eval_splits` names. The logits are the
    method's `classify`."""

    phase = "evaluation and selection scores"

    def __init__(self, nets, splits: dict, class_names, embedding_samples: int, method,
                 eval_splits=()):
        import tensorflow as tf

        self.splits, self.eval_splits = splits, tuple(eval_splits)
        self.class_names = tuple(class_names)
        self.embedding_samples = embedding_samples

        @tf.function  # traced once per domain: `domain` is a Python string
        def embed(x, domain):
            z = nets.features(x, training=False, domain=domain)
            return z, tf.cast(method.classify(nets, z), tf.float32)

        self.embed = embed
        self.backbone = tf.function(lambda x: nets.backbone(x, training=False))

    def _embed(self, name: str, split):
        """(features, logits, labels or None) over a whole split."""
        features, logits, labels = [], [], []
        batches = split.batches(EVAL_BATCH) if isinstance(split, InMemoryShard) else \
            split.iter_batches(batch_size=EVAL_BATCH, batch_format="numpy")
        for batch in batches:
            z, out = self.embed(batch["x"], SPLIT_DOMAIN[name])
            features.append(z.numpy())
            logits.append(out.numpy())
            if "label" in batch:
                labels.append(batch["label"])
        return (np.concatenate(features), np.concatenate(logits),
                np.concatenate(labels) if labels else None)

    def _embedding_table(self, epoch: int, representation: str, source, source_labels,
                         target) -> dict:
        n = self.embedding_samples
        rows = [{"epoch": epoch, "representation": representation, "domain": domain,
                 "label": None if labels is None else int(labels[i]),
                 "features": features[i].reshape(-1).astype(np.float32)}
                for domain, features, labels in (("source", source, source_labels),
                                                 ("target", target, None))
                for i in range(min(n, len(features)))]
        return {"embeddings": rows} if rows else {}

    def start(self) -> dict:
        """The backbone's own domain gap, where adaptation starts from: its features'
        proxy A-distance (a domain_distance row) and the embedding sample."""
        source_batches = list(self.splits["source_sample"].batches(EVAL_BATCH))
        source = np.concatenate([self.backbone(b["x"]).numpy() for b in source_batches])
        source_labels = np.concatenate([b["label"] for b in source_batches])
        target = np.concatenate([self.backbone(b["x"]).numpy()
                                 for b in self.splits["target_sample"].batches(EVAL_BATCH)])
        distance = {"epoch": -1, "representation": "backbone",
                    "samples": len(source) + len(target),
                    "proxy_a_distance": selection.proxy_a_distance(source, target)}
        return {"domain_distance": [distance]} | self._embedding_table(
            -1, "backbone", source, source_labels, target)

    def judge(self, epoch: int) -> Verdict:
        source_z, _, source_labels = self._embed("source_sample", self.splits["source_sample"])
        target_z, target_logits, _ = self._embed("target_sample", self.splits["target_sample"])
        evals, dev = [], None
        for name, dataset in self.eval_splits:
            z, logits, labels = self._embed(name, self.splits[name])
            evals.append(score_logits(logits, labels, len(self.class_names))
                         | {"epoch": epoch, "split": name, "dataset": dataset,
                            "class_names": list(self.class_names)})
            if name == "source_val":
                dev = selection.deep_embedded_validation(source_z, target_z, z,
                                                         per_example_loss(logits, labels))
        criteria = {"snd": selection.soft_neighbourhood_density(target_logits), "dev": dev}
        # What Ray Train keeps checkpoints by (selection.KEPT_BY) is among these.
        accuracies = {f"{row['split']}_accuracy": row["accuracy"] for row in evals}
        distance = {"epoch": epoch, "representation": "bottleneck",
                    "samples": len(source_z) + len(target_z),
                    "proxy_a_distance": selection.proxy_a_distance(source_z, target_z)}
        reported = criteria | accuracies
        tables = {"evals": evals, "domain_distance": [distance]}
        return Verdict(columns=criteria, reported=reported, tables=tables | self._embedding_table(
            epoch, "bottleneck", source_z, source_labels, target_z))
