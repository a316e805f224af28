import pytest

from lib.data.uri import DatasetURI, URIError, parse_uri


@pytest.mark.parametrize("text", [
    "cifar10", "cifar10:train", "cifar10:test", "folder:/data/x", "folder:rel/dir",
    "parquet:/p", "parquet:s3://bucket/prefix", "stl10:/s#train", "stl10:/s#test",
    "cifar10c:/c#fog@4", "cifar10c:/c#gaussian_noise@1",
])
def test_round_trip(text):
    uri = parse_uri(text)
    assert str(uri) == text
    assert parse_uri(str(uri)) == uri


def test_fields():
    assert parse_uri("cifar10c:/d/CIFAR-10-C#fog@4") == DatasetURI(
        "cifar10c", path="/d/CIFAR-10-C", corruption="fog", severity=4)
    assert parse_uri("stl10:/s") == DatasetURI("stl10", path="/s", split="train")
    assert parse_uri("parquet:s3://b/k").path == "s3://b/k"


@pytest.mark.parametrize("text", [
    "mnist", "folder:", "cifar10:valid", "cifar10c:/c#fog", "cifar10c:/c#fog@6",
    "stl10:/s#unlabeled", "/just/a/path",
])
def test_rejects(text):
    with pytest.raises(URIError):
        parse_uri(text)
