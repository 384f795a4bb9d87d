import pytest

from support import write_tiny_mnist


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A small learnable MNIST-format folder: each class is a bright bar at its own rows, plus noise."""
    return write_tiny_mnist(tmp_path_factory.mktemp("tinymnist"))
