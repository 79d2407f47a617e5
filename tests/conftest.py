from pathlib import Path

import pytest

REFDATA = Path(__file__).resolve().parent / "refdata"


@pytest.fixture(scope="session")
def refdata() -> Path:
    return REFDATA


@pytest.fixture(scope="session")
def example_dir(tmp_path_factory) -> Path:
    """The binary Rotterdam -> GBSG fixture prepared once (data, model.skops, audit.yaml; tests/fixtures/rotterdam_binary)."""
    import importlib.util

    path = Path(__file__).resolve().parent / "fixtures" / "rotterdam_binary" / "prepare.py"
    spec = importlib.util.spec_from_file_location("rotterdam_gbsg_prepare", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("rotterdam_gbsg")
    module.prepare(out)
    return out
