import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from lib.data.classes import CIFAR10_CLASSES
from lib.data.sources import ArraySource, FolderSource, ParquetSource
from lib.data.uri import parse_uri
from lib.errors import DataError, NoInputError


def folder(path):
    return FolderSource(parse_uri(f"folder:{path}"))


def test_folder_lists_in_cifar_order_and_stable_file_order(small_folder):
    cand = folder(small_folder).candidates()
    assert cand.class_names == CIFAR10_CLASSES
    assert cand.example_ids[:5] == ("airplane/0000.jpg", "airplane/0001.jpg", "airplane/0002.jpg",
                                    "airplane/0003.jpg", "automobile/0000.jpg")
    assert list(cand.labels[:5]) == [0, 0, 0, 0, 1]


def test_folder_pixels_are_a_direct_decode(small_folder, ray_local):
    src = folder(small_folder)
    ds, shape = src.read(np.arange(len(src.example_ids)))
    rows = {r["example_id"]: r for r in ds.take_all()}
    assert shape == (32, 32, 3) and len(rows) == 40
    expected = np.asarray(Image.open(small_folder / "dog/0003.jpg"))
    got = np.frombuffer(rows["dog/0003.jpg"]["image"], np.uint8).reshape(shape)
    np.testing.assert_array_equal(got, expected)
    assert rows["dog/0003.jpg"]["class_name"] == "dog" and rows["dog/0003.jpg"]["label"] == 5


def test_missing_and_empty_folders(tmp_path, small_folder):
    with pytest.raises(NoInputError, match="not found"):
        folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoInputError, match="no class subfolders"):
        folder(tmp_path / "empty")
    for f in (small_folder / "frog").iterdir():
        f.unlink()
    with pytest.raises(NoInputError, match="empty class folder.*frog"):
        folder(small_folder)


def read_all(src):
    return src.read(np.arange(len(src.example_ids)))


def test_truncated_jpeg_is_named(small_folder, ray_local):
    path = small_folder / "cat/0002.jpg"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match=r"1 bad image\(s\): cat/0002.jpg: undecodable"):
        read_all(folder(small_folder))


def test_wrong_shapes_are_named(small_folder, ray_local):
    Image.open(small_folder / "cat/0001.jpg").convert("L").save(small_folder / "cat/0001.jpg")
    Image.new("RGB", (28, 28)).save(small_folder / "bird/0000.png")
    with pytest.raises(DataError, match=r"2 bad image\(s\): bird/0000.png: 28x28 RGB, expected "
                                        r"32x32 RGB.*cat/0001.jpg: 32x32 L"):
        read_all(folder(small_folder))


def write_stl10(root, images, stl_labels, split="train"):
    root.mkdir(parents=True, exist_ok=True)
    # The release's layout: each image column-major, channel after channel.
    (root / f"{split}_X.bin").write_bytes(images.transpose(0, 3, 2, 1).tobytes())
    (root / f"{split}_y.bin").write_bytes(np.asarray(stl_labels, np.uint8).tobytes())


def images_of(src):
    """Every row's pixels, read as a run reads them (by Ray Data tasks), in id order."""
    ds, shape = src.read(np.arange(len(src.example_ids)))
    rows = sorted(ds.take_all(), key=lambda r: r["example_id"])
    return np.stack([np.frombuffer(r["image"], np.uint8).reshape(shape) for r in rows])


def test_stl10_maps_to_the_nine_shared_classes(tmp_path, ray_local):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 96, 96, 3), dtype=np.uint8)
    write_stl10(tmp_path / "stl10_binary", images, np.arange(1, 11), split="test")
    src = ArraySource(parse_uri(f"stl10:{tmp_path}#test"), image_size=96)
    cand = src.candidates()
    assert "frog" not in cand.class_names and len(cand.class_names) == 9
    # STL order airplane,bird,car,cat,deer,dog,horse,(monkey dropped),ship,truck
    names = [cand.class_names[i] for i in cand.labels]
    assert names == ["airplane", "bird", "automobile", "cat", "deer", "dog", "horse", "ship",
                     "truck"]
    np.testing.assert_array_equal(images_of(src)[7], images[8])  # ship, after the dropped monkey
    small = ArraySource(parse_uri(f"stl10:{tmp_path / 'stl10_binary'}#test"), image_size=32)
    assert small.image_shape(None) == (32, 32, 3)
    resized = np.asarray(Image.fromarray(images[8]).resize((32, 32), Image.BICUBIC))
    np.testing.assert_array_equal(images_of(small)[7], resized)


def test_stl10_bad_files(tmp_path):
    with pytest.raises(NoInputError, match="STL-10 images not found"):
        ArraySource(parse_uri(f"stl10:{tmp_path}"), image_size=32)
    write_stl10(tmp_path, np.zeros((2, 96, 96, 3), np.uint8), [1, 11])
    with pytest.raises(DataError, match="labels must be 1-10"):
        ArraySource(parse_uri(f"stl10:{tmp_path}"), image_size=32)


def test_cifar10c_takes_the_severity_block(tmp_path, ray_local, monkeypatch):
    import lib.data.blocks

    monkeypatch.setattr(lib.data.blocks, "ROWS_PER_TASK", 4)  # three tasks read the block
    images = np.zeros((50, 32, 32, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(50)
    np.save(tmp_path / "fog.npy", images)
    np.save(tmp_path / "labels.npy", (np.arange(50) % 10).astype(np.uint8))
    src = ArraySource(parse_uri(f"cifar10c:{tmp_path}#fog@4"), image_size=32)
    assert list(images_of(src)[:, 0, 0, 0]) == list(range(30, 40))
    assert src.candidates().example_ids[0] == "fog@4/000000"
    with pytest.raises(NoInputError, match="corruption file not found"):
        ArraySource(parse_uri(f"cifar10c:{tmp_path}#snow@1"), image_size=32)


def test_cifar10c_label_out_of_range(tmp_path):
    np.save(tmp_path / "fog.npy", np.zeros((5, 32, 32, 3), np.uint8))
    np.save(tmp_path / "labels.npy", np.array([0, 1, 2, 3, 12], np.uint8))
    with pytest.raises(DataError, match="label out of range 0-9 at rows 0"):
        ArraySource(parse_uri(f"cifar10c:{tmp_path}#fog@5"), image_size=32)


def test_keras_cifar10_split(monkeypatch):
    import keras

    train = (np.zeros((3, 32, 32, 3), np.uint8), np.array([[1], [2], [3]], np.uint8))
    test = (np.ones((2, 32, 32, 3), np.uint8), np.array([[4], [5]], np.uint8))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: (train, test))
    src = ArraySource(parse_uri("cifar10:test"), image_size=32)
    assert list(src.labels) == [4, 5] and src.example_ids == ("test/000000", "test/000001")
    assert len(ArraySource(parse_uri("cifar10"), image_size=32).labels) == 3


def test_keras_cifar10_rows_are_read_in_order_a_task_at_a_time(monkeypatch, ray_local):
    import keras

    import lib.data.blocks

    monkeypatch.setattr(lib.data.blocks, "ROWS_PER_TASK", 2)  # 5 rows: 3 parts
    images = np.zeros((5, 32, 32, 3), np.uint8)
    images[:, 0, 0, 0] = [10, 11, 12, 13, 14]
    train = (images, np.array([[0], [1], [2], [3], [4]], np.uint8))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: (train, train))
    src = ArraySource(parse_uri("cifar10:train"), image_size=32)
    ds, shape = src.read(np.array([4, 0, 2]))
    rows = ds.take_all()
    assert [r["example_id"] for r in rows] == ["train/000004", "train/000000", "train/000002"]
    assert [r["class_name"] for r in rows] == ["deer", "airplane", "bird"]
    assert [np.frombuffer(r["image"], np.uint8).reshape(shape)[0, 0, 0] for r in rows] == [14, 10, 12]


def test_keras_cifar10_download_failure_is_one_clear_error(monkeypatch):
    import keras

    def offline():  # what Keras raises when the archive cannot be fetched
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/~kriz/"
                        "cifar-10-python.tar.gz: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(NoInputError, match="cifar10:test: Keras could not load CIFAR-10 .*URL "
                                           "fetch failure.*KERAS_HOME or use folder:") as e:
        ArraySource(parse_uri("cifar10:test"), image_size=32)
    assert e.value.exit_code == 66


def test_parquet_source_rejects_foreign_files(tmp_path, small_folder, ray_local):
    from lib.config import PrepareConfig
    from lib.prepare import prepare

    out = tmp_path / "p"
    prepare(PrepareConfig(source=f"folder:{small_folder}", out=str(out)))
    src = ParquetSource(parse_uri(f"parquet:{out}"))
    assert len(src.candidates().example_ids) == 40
    (out / "data" / "notes.txt").write_text("not parquet")
    with pytest.raises(DataError, match="not a Parquet file: .*notes.txt"):
        ParquetSource(parse_uri(f"parquet:{out}"))


def test_parquet_source_checks_labels(tmp_path, small_folder, ray_local):
    from lib.config import PrepareConfig
    from lib.prepare import prepare

    out = tmp_path / "p"
    prepare(PrepareConfig(source=f"folder:{small_folder}", out=str(out)))
    (path,) = (out / "data").glob("*.parquet")
    table = pq.read_table(path)
    labels = table.column("label").to_numpy().copy()
    labels[3] = 10
    pq.write_table(table.set_column(1, "label", pa.array(labels, pa.int16())), path)
    with pytest.raises(DataError, match="label out of range 0-9 for airplane/0003.jpg"):
        ParquetSource(parse_uri(f"parquet:{out}"))
    shutil.rmtree(out / "data")
    with pytest.raises(NoInputError, match="holds no Parquet files"):
        ParquetSource(parse_uri(f"parquet:{out}"))
