"""Ctrl-C at any moment after start-up: exit 130, one line on stderr, no traceback, no half-written set.

Each test runs the installed ``trustaudit`` console script (its entry point, loaded as the script
does) in a fresh interpreter and sends SIGINT at a chosen moment from a hook, so the moment is
deterministic: while numpy is being imported, during the audit, while the set is moved into place.
"""

import json
import os
import subprocess
import sys

from test_cli import prediction_spec, write_spec  # noqa: F401 - the fixture

import audit
from audit.render import read_set

CONSOLE_SCRIPT = """
import os, signal, sys
from importlib.metadata import entry_points

def interrupt():
    os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C in the terminal sends

{hook}
(entry_point,) = entry_points(group="console_scripts", name="trustaudit")
sys.argv[0] = "trustaudit"
sys.exit(entry_point.load()())
"""

WHILE_IMPORTING_NUMPY = """
class InterruptOnNumpy:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            sys.meta_path.remove(self)
            interrupt()
        return None

sys.meta_path.insert(0, InterruptOnNumpy())
"""

DURING_THE_AUDIT = """
import audit.runner

class InterruptingEngine(audit.runner.ResamplingEngine):
    def __init__(self, *args, **kwargs):
        interrupt()
        super().__init__(*args, **kwargs)

audit.runner.ResamplingEngine = InterruptingEngine
"""

WHILE_MOVING_THE_SET_INTO_PLACE = """
real_replace = os.replace

def replace_then_interrupt(src, dst):
    real_replace(src, dst)
    if os.path.basename(dst) == "results.json":
        interrupt()

os.replace = replace_then_interrupt
"""


def _trustaudit(hook, *args, cwd):
    return subprocess.run([sys.executable, "-c", CONSOLE_SCRIPT.format(hook=hook), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def _spec(prediction_spec, seed):  # noqa: F811
    directory, _, spec = prediction_spec
    return write_spec(directory, {**spec, "checks": ["performance"], "settings": {"n_resamples": 50, "seed": seed}})


def test_ctrl_c_while_importing_at_start_up_exits_130_with_one_line(prediction_spec):  # noqa: F811
    directory = prediction_spec[0]
    done = _trustaudit(WHILE_IMPORTING_NUMPY, "run", _spec(prediction_spec, 1), "--out", directory / "out", cwd=directory)
    assert (done.returncode, done.stderr) == (130, "trustaudit: interrupted; nothing was written.\n")
    assert not (directory / "out").exists()


def test_ctrl_c_during_the_audit_exits_130_and_keeps_the_previous_set_whole(prediction_spec):  # noqa: F811
    directory = prediction_spec[0]
    out = directory / "out"
    previous = audit.run(_spec(prediction_spec, 1))
    previous.save(out)
    done = _trustaudit(DURING_THE_AUDIT, "run", _spec(prediction_spec, 2), "--out", out, cwd=directory)
    assert (done.returncode, done.stderr, done.stdout) == (130, "trustaudit: interrupted; nothing was written.\n", "")
    assert read_set(out / "results.json").results == previous.results
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]


def test_ctrl_c_while_the_set_is_moved_into_place_finishes_the_set_then_exits_130(prediction_spec):  # noqa: F811
    directory = prediction_spec[0]
    out = directory / "out"
    audit.run(_spec(prediction_spec, 1)).save(out)
    done = _trustaudit(WHILE_MOVING_THE_SET_INTO_PLACE, "run", _spec(prediction_spec, 2), "--out", out, "-q", cwd=directory)
    assert (done.returncode, done.stderr) == (130, f"trustaudit: interrupted after the report set was written whole to '{out}'.\n")
    saved = read_set(out / "results.json")  # whole: every file the manifest lists, with its hash
    assert json.loads(saved.files["results.json"])["provenance"]["seed"] == 2
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]


def test_sys_exit_in_code_trustaudit_runs_is_an_internal_error_never_a_silent_exit_0(prediction_spec, monkeypatch, capsys):  # noqa: F811
    import audit.runner
    from audit.cli import main

    directory = prediction_spec[0]
    monkeypatch.setattr(audit.runner, "run_loaded", lambda *args, **kwargs: sys.exit(0))
    assert main(["run", str(_spec(prediction_spec, 1)), "--out", str(directory / "out")]) == 1
    err = capsys.readouterr().err
    assert "called sys.exit(0); nothing was written" in err and not (directory / "out").exists()
