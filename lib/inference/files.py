"""Model files: a `.keras` file or a TensorFlow SavedModel directory, each carrying
raydapt's metadata (class names, image shape, the run and epoch it came from), and
reading either back as one kind of thing: pixels in, probabilities out.

The metadata rides inside the file: `raydapt.json` in the .keras zip (Keras reads only its
own entries), and in the SavedModel's `assets.extra/` (the place TensorFlow Serving leaves
for files it does not load).
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from lib.errors import DataError, NoInputError

METADATA = "raydapt.json"
FORMATS = ("keras", "saved_model")
SERVING = "serve"  # the SavedModel's endpoint and signature: uint8 images -> outputs


def write_keras(model, metadata: dict, path: str) -> None:
    model.save(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(METADATA, json.dumps(metadata, indent=2))


def write_saved_model(model, metadata: dict, path: str) -> None:
    """A SavedModel whose `serve` signature takes uint8 images of the model's shape and
    returns probabilities, the top class's index and its name."""
    import keras
    import tensorflow as tf

    names = tf.constant(metadata["class_names"])
    archive = keras.export.ExportArchive()
    archive.track(model)

    @tf.function(input_signature=[tf.TensorSpec([None, *metadata["image_shape"]], tf.uint8,
                                                name="images")])
    def serve(images):
        probabilities = model(tf.cast(images, tf.float32), training=False)
        top = tf.argmax(probabilities, axis=1, output_type=tf.int32)
        return {"probabilities": probabilities, "class_id": top,
                "class_name": tf.gather(names, top)}

    archive.add_endpoint(SERVING, serve)
    archive.write_out(path, verbose=False)
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    with open(os.path.join(path, "assets.extra", METADATA), "w") as f:
        json.dump(metadata, f, indent=2)


def kind_of(path: str) -> str | None:
    """keras, saved_model, run (a run directory) or None."""
    if os.path.isfile(path) and zipfile.is_zipfile(path):
        return "keras"
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return "saved_model"
    if os.path.isfile(os.path.join(path, "config.json")):
        return "run"
    return None


class ModelFile:
    """An exported model, loaded: `metadata` and `probabilities(images)`."""

    def __init__(self, path: str):
        if not os.path.exists(path):
            raise NoInputError(f"no model at {path}")
        kind = kind_of(path)
        if kind not in FORMATS:
            raise DataError(f"{path} is not a model raydapt exported (a .keras file or a "
                            f"SavedModel directory)")
        self.path, self.kind = os.path.abspath(path), kind
        try:
            if kind == "keras":
                with zipfile.ZipFile(path) as archive:
                    self.metadata = json.loads(archive.read(METADATA))
            else:
                with open(os.path.join(path, "assets.extra", METADATA)) as f:
                    self.metadata = json.load(f)
        except (KeyError, OSError, ValueError):
            raise DataError(f"{path} has no raydapt metadata ({METADATA}): not exported by "
                            f"raydapt export") from None
        self._model = None

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        if self._model is None:
            if self.kind == "keras":
                import keras

                self._model = keras.saving.load_model(self.path)
            else:
                import tensorflow as tf

                self._model = tf.saved_model.load(self.path)
        if self.kind == "keras":
            return self._model(images.astype(np.float32), training=False).numpy()
        return getattr(self._model, SERVING)(images.astype(np.uint8))["probabilities"].numpy()
