"""trustaudit reproduce does not trust the bundle: only the reviewer's --trust loads code, and every
path the bundle names stays inside the base directory."""

import json
import shutil

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from test_cli import write_spec

from audit.cli import main
from audit.render import read_set
from audit.result import write_set

SETTINGS = {"n_resamples": 50, "seed": 3}


@pytest.fixture(scope="module")
def audited_bundle(tmp_path_factory):
    """An audit of a pickled model whose spec says trust: true, in its base directory."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=120), "x2": rng.normal(size=120)})
    frame["y"] = (frame["x1"] + rng.normal(0, 1, 120) > 0).astype(int)
    base = tmp_path_factory.mktemp("bundle")
    frame.to_csv(base / "test.csv", index=False)
    joblib.dump(LogisticRegression().fit(frame[["x1", "x2"]], frame["y"]), base / "model.joblib")
    spec = {"name": "pickled", "model": {"path": "model.joblib", "trust": True},
            "data": {"test": "test.csv", "target": "y"}, "checks": ["performance"], "settings": SETTINGS}
    assert main(["run", str(write_spec(base, spec)), "--out", str(base / "out"), "-q"]) == 0
    return base


@pytest.fixture
def pickled_bundle(audited_bundle, tmp_path):
    """A fresh copy of the bundle (the tests tamper with it): the base directory and results.json."""
    base = shutil.copytree(audited_bundle, tmp_path / "bundle")
    return base, base / "out" / "results.json"


def _tampered(results, change):
    """The bundle as a stranger could send it: the recorded spec changed, the set re-written whole."""
    saved = read_set(results)
    recorded = json.loads(saved.files["results.json"])
    change(recorded["spec"])
    write_set(results.parent, saved.files | {"results.json": json.dumps(recorded, indent=2)})
    return results


def _reproduce(results, base, *extra):
    return main(["reproduce", str(results), "--base-dir", str(base), *extra])


def test_reproduce_refuses_a_pickle_the_bundle_trusts_unless_the_reviewer_passes_trust(pickled_bundle, capsys):
    base, results = pickled_bundle
    assert json.loads(results.read_text())["spec"]["model"]["trust"] is True
    assert _reproduce(results, base) == 2
    err = capsys.readouterr().err
    assert "'model.joblib' loads only with trust" in err and "--trust" in err and err.count("\n") == 1
    assert _reproduce(results, base, "--trust") == 0
    assert "reproduced: every one of" in capsys.readouterr().out


def test_the_bundles_execution_settings_are_ignored(pickled_bundle, capsys):
    base, results = pickled_bundle
    _tampered(results, lambda spec: spec["settings"].update(scheduler="tcp://203.0.113.9:8786", n_jobs=64))
    assert _reproduce(results, base, "--trust") == 0, capsys.readouterr().err


def test_architecture_code_in_a_bundle_never_runs_without_trust(pickled_bundle, capsys):
    base, results = pickled_bundle
    (base / "net.py").write_text("import pathlib\npathlib.Path(__file__).with_name('ran').write_text('x')\ndef build(): ...\n")
    _tampered(results, lambda spec: spec["model"].update(path="model.pt", architecture="net.py:build", kind="torch_state_dict"))
    assert _reproduce(results, base) == 2
    err = capsys.readouterr().err
    assert "model.architecture 'net.py:build' is code" in err and "--trust" in err
    assert not (base / "ran").exists()


def _outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "test.csv").write_text("x1,x2,y\n")
    (outside / "net.py").write_text("def build(): ...\n")
    return outside


@pytest.mark.parametrize("key", ["data.test", "model.path", "model.architecture"])
@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_a_bundle_path_leading_out_of_the_base_directory_is_a_plain_error(pickled_bundle, tmp_path, capsys, key, kind):
    base, results = pickled_bundle
    outside = _outside(tmp_path)
    name = "net.py" if key == "model.architecture" else "test.csv"
    (base / f"link-{name}").symlink_to(outside / name)
    path = {"absolute": str(outside / name), "dotdot": f"../outside/{name}", "symlink": f"link-{name}"}[kind]

    def change(spec):
        if key == "data.test":
            spec["data"]["test"] = path
        elif key == "model.path":
            spec["model"]["path"] = path
        else:
            spec["model"].update(path="model.pt", kind="torch_state_dict", architecture=f"{path}:build")

    _tampered(results, change)
    assert _reproduce(results, base, "--trust") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"trustaudit: error: the bundle's spec gives {key} as {path!r}") and err.count("\n") == 1
    assert {"absolute": "an absolute path", "dotdot": "with '..'", "symlink": "a symlink leading out"}[kind] in err


def test_a_recorded_input_file_leading_out_of_the_base_directory_is_a_plain_error(pickled_bundle, tmp_path, capsys):
    base, results = pickled_bundle
    outside = _outside(tmp_path)
    saved = read_set(results)
    recorded = json.loads(saved.files["results.json"])
    recorded["provenance"]["files"]["data:test"]["path"] = str(outside / "test.csv")
    write_set(results.parent, saved.files | {"results.json": json.dumps(recorded)})
    assert _reproduce(results, base, "--trust") == 2
    assert "provenance.files.data:test" in capsys.readouterr().err


def test_a_path_that_stays_inside_the_base_directory_is_accepted(pickled_bundle, capsys):
    base, results = pickled_bundle
    (base / "sub").mkdir()
    _tampered(results, lambda spec: spec["data"].update(test="sub/../test.csv"))
    assert _reproduce(results, base, "--trust") == 3  # reproduced, but the recorded path differs
    assert "differs: datasets.test.path" in capsys.readouterr().out


def test_a_symlink_loop_in_a_bundle_is_a_plain_error(pickled_bundle, capsys):
    base, results = pickled_bundle
    (base / "loop.csv").symlink_to(base / "loop.csv")
    _tampered(results, lambda spec: spec["data"].update(test="loop.csv"))
    assert _reproduce(results, base, "--trust") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err and err.count("\n") == 1
