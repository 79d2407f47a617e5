from pathlib import Path

import pytest

REFDATA = Path(__file__).resolve().parent / "refdata"


@pytest.fixture(scope="session")
def refdata() -> Path:
    return REFDATA
