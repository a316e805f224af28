import logging
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CIFAR10_JPEG = Path(os.environ.get("RAYDAPT_CIFAR10_JPEG", REPO.parent / "shared/data/cifar10-jpeg"))


@pytest.fixture(scope="session")
def cifar_jpeg() -> Path:
    """The shared real CIFAR-10 JPEG copy. Missing data is a failure, not a skip."""
    assert (CIFAR10_JPEG / "train/airplane/0000.jpg").is_file(), (
        f"CIFAR-10 JPEG copy not found at {CIFAR10_JPEG}; set RAYDAPT_CIFAR10_JPEG")
    return CIFAR10_JPEG


@pytest.fixture
def small_folder(cifar_jpeg, tmp_path) -> Path:
    """A class-per-folder copy of 4 real training images per class, to damage at will."""
    root = tmp_path / "imgs"
    for class_dir in sorted((cifar_jpeg / "train").iterdir()):
        (root / class_dir.name).mkdir(parents=True)
        for f in sorted(class_dir.iterdir())[:4]:
            shutil.copy(f, root / class_dir.name / f.name)
    return root


@pytest.fixture(scope="session")
def ray_local():
    import ray

    # More logical CPUs than cores: Ray Data tasks must run beside 2 training workers.
    ray.init(num_cpus=4, include_dashboard=False, logging_level=logging.WARNING,
             _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


class SecondInterrupt(Exception):
    """What a test's second signal raises: a KeyboardInterrupt would end the whole pytest
    session, Ray's SIGTERM handler the process."""


@pytest.fixture(params=["SIGINT", "SIGTERM"])
def signal_during_final_record(request, monkeypatch):
    """A second Ctrl-C, or SIGTERM, sent to this process just as a run's final record (any
    status but running) starts to be written. Yields the tables it was sent for."""
    import signal

    from lib.metrics.store import MetricsStore

    number = getattr(signal, request.param)

    def interrupt(signum, frame):
        raise SecondInterrupt(f"{request.param} during the record's write")

    real, sent = MetricsStore.write, []

    def write(self, table, rows, *args, **kwargs):
        if table == "runs" and rows[0]["status"] != "running":
            sent.append(table)
            os.kill(os.getpid(), number)  # handled before the next line, if at all
        return real(self, table, rows, *args, **kwargs)

    monkeypatch.setattr(MetricsStore, "write", write)
    previous = signal.signal(number, interrupt)
    yield sent
    after = signal.getsignal(number)
    signal.signal(number, previous)
    assert after is interrupt  # put back after the record
