"""checklists/ and reports/ ship inside the wheel and are found the same way as in a checkout."""

import zipfile
from pathlib import Path

from audit.resources import resource_dir

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_templates_and_checklists(tmp_path, monkeypatch):
    from hatchling.builders.wheel import WheelBuilder

    monkeypatch.chdir(ROOT)
    wheel = next(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))
    names = set(zipfile.ZipFile(wheel).namelist())
    for resource in ("reports", "checklists"):
        for path in (ROOT / resource).rglob("*"):
            if path.is_file():
                assert f"audit/_resources/{resource}/{path.relative_to(ROOT / resource).as_posix()}" in names
    assert any(n.endswith("entry_points.txt") for n in names)


def test_resource_dir_finds_the_checkout_directories():
    assert (resource_dir("reports") / "report.html.j2").is_file()
    assert resource_dir("checklists").is_dir()
