"""Dataset URIs: one string names a dataset the same way in every job.

    cifar10[:train|:test]              Keras download (cached under KERAS_HOME)
    folder:PATH                        class-per-subfolder PNG/JPEG tree
    parquet:PATH                       output of `raydapt prepare` (local or s3://, gs://, ...)
    stl10:PATH[#train|#test]           STL-10 binary release, 9 classes shared with CIFAR-10
    cifar10c:PATH#CORRUPTION@SEVERITY  CIFAR-10-C release layout
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.errors import UsageError

SCHEMES = ("cifar10", "folder", "parquet", "stl10", "cifar10c")
SPLITS = ("train", "test")


class URIError(UsageError, ValueError):
    """A URI that cannot name a dataset: a usage error (exit 2)."""


@dataclass(frozen=True)
class DatasetURI:
    scheme: str
    path: str | None = None
    split: str | None = None
    corruption: str | None = None
    severity: int | None = None

    def __str__(self) -> str:
        if self.scheme == "cifar10":
            return "cifar10" if self.split is None else f"cifar10:{self.split}"
        if self.scheme == "stl10":
            return f"stl10:{self.path}#{self.split}"
        if self.scheme == "cifar10c":
            return f"cifar10c:{self.path}#{self.corruption}@{self.severity}"
        return f"{self.scheme}:{self.path}"


def parse_uri(text: str) -> DatasetURI:
    scheme, sep, rest = text.partition(":")
    if scheme not in SCHEMES:
        raise URIError(f"unknown dataset URI {text!r}: the scheme must be one of {', '.join(SCHEMES)}")
    if scheme == "cifar10":
        if sep and rest not in SPLITS:
            raise URIError(f"{text!r}: cifar10 takes no path, only :train or :test")
        return DatasetURI("cifar10", split=rest or None)
    if not rest:
        raise URIError(f"{text!r}: {scheme}: needs a path, e.g. {scheme}:/data/x")
    if scheme == "stl10":
        path, _, split = rest.partition("#")
        split = split or "train"
        if split not in SPLITS:
            raise URIError(f"{text!r}: the STL-10 split must be #train or #test")
        return DatasetURI("stl10", path=path, split=split)
    if scheme == "cifar10c":
        path, _, fragment = rest.rpartition("#")
        corruption, _, severity = fragment.partition("@")
        if not path or not corruption or not severity.isdigit() or not 1 <= int(severity) <= 5:
            raise URIError(f"{text!r}: expected cifar10c:PATH#CORRUPTION@SEVERITY, severity 1-5")
        return DatasetURI("cifar10c", path=path, corruption=corruption, severity=int(severity))
    return DatasetURI(scheme, path=rest)
