"""The output set is written as a whole: each file atomically, manifest.json last, checked on reading.

A kill at any moment leaves either the previous whole set or a set that ``render`` and ``reproduce``
refuse as incomplete or mixed; temporary files never outlive a run; other files are left alone.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest
from test_cli import prediction_spec, write_spec  # noqa: F401 - the fixture

import audit
from audit import result as result_module
from audit.cli import main
from audit.render import read_set
from audit.result import MANIFEST, installed_version, write_set

SET = ["figures.json", "manifest.json", "report.html", "results.json"]


def _temporaries(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def two_audits(prediction_spec):  # noqa: F811
    """Two audits of the same table that differ in every number (other seeds), not yet saved."""
    directory, _, spec = prediction_spec
    spec = {**spec, "checks": ["performance"], "settings": {"n_resamples": 50}}
    first = audit.run(write_spec(directory, {**spec, "settings": {"n_resamples": 50, "seed": 1}}))
    second = audit.run(write_spec(directory, {**spec, "settings": {"n_resamples": 50, "seed": 2}}))
    return directory, first, second


def test_a_saved_set_ends_with_a_manifest_of_every_file_with_sha256_and_size(two_audits):
    directory, first, _ = two_audits
    written = first.save(directory / "a")
    first.save(directory / "b")
    assert sorted(p.name for p in (directory / "a").iterdir()) == SET
    assert set(written) == {"results.json", "figures.json", "report.html"}
    manifest = json.loads((directory / "a" / MANIFEST).read_text())
    assert manifest["schema"] == "trustaudit/manifest/1" and manifest["trustaudit_version"] == installed_version()
    for name in ("results.json", "figures.json", "report.html"):
        data = (directory / "a" / name).read_bytes()
        assert manifest["files"][name] == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert list(manifest["files"]) == sorted(manifest["files"])
    assert (directory / "a" / MANIFEST).read_bytes() == (directory / "b" / MANIFEST).read_bytes()  # no time stamp


def test_a_failed_write_between_two_renames_leaves_a_set_render_reports_as_incomplete(two_audits, monkeypatch, capsys):
    directory, first, second = two_audits
    out = directory / "out"
    first.save(out)
    real_replace, calls = os.replace, []

    def replace_once_then_fail(src, dst):
        if calls:
            raise OSError(5, "Input/output error")
        calls.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(result_module.os, "replace", replace_once_then_fail)
    with pytest.raises(audit.AuditInputError, match="cannot write"):
        second.save(out)
    monkeypatch.undo()
    assert json.loads((out / "results.json").read_text()) == second.results  # the new results beside the old report
    assert _temporaries(out) == [] and MANIFEST not in os.listdir(out)
    assert main(["render", str(out / "results.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is incomplete" in err and "manifest.json" in err and "trustaudit run" in err and err.count("\n") == 1


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from audit.result import write_set

out, source = Path(sys.argv[1]), Path(sys.argv[2])
contents = {name: (source / name).read_bytes() for name in ("results.json", "figures.json", "report.html")}
real_replace = os.replace

def replace_then_die(src, dst):
    real_replace(src, dst)
    os.kill(os.getpid(), signal.SIGKILL)  # the machine loses power after the first file is in place

os.replace = replace_then_die
write_set(out, contents)
"""


def test_a_kill_between_two_writes_is_reported_as_incomplete_never_rendered_as_whole(two_audits, capsys):
    directory, first, second = two_audits
    out, source = directory / "out", directory / "next"
    first.save(out)
    second.save(source)
    old_report = (out / "report.html").read_bytes()
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out), str(source)], capture_output=True, timeout=60, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (out / "results.json").read_bytes() == (source / "results.json").read_bytes()
    assert (out / "report.html").read_bytes() == old_report  # a mixed directory: new results, old report
    assert _temporaries(out)  # a killed process cannot clean up; the next write does
    for command in (["render", str(out / "results.json")], ["reproduce", str(out / "results.json"), "--base-dir", str(directory)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "is incomplete" in err and "Traceback" not in err
    assert (out / "report.html").read_bytes() == old_report  # render wrote nothing
    second.save(out)
    assert _temporaries(out) == [] and sorted(os.listdir(out)) == SET
    assert main(["render", str(out / "results.json"), "--quiet"]) == 0


def test_a_changed_file_makes_the_set_mixed_and_a_missing_one_incomplete(two_audits, capsys):
    directory, first, second = two_audits
    out, other = directory / "out", directory / "other"
    first.save(out)
    second.save(other)
    (out / "figures.json").write_bytes((other / "figures.json").read_bytes() + b" ")
    assert main(["render", str(out / "results.json")]) == 2
    err = capsys.readouterr().err
    assert "is mixed: figures.json differs from what manifest.json lists" in err
    (out / "report.html").unlink()
    assert main(["reproduce", str(out / "results.json"), "--base-dir", str(directory)]) == 2
    err = capsys.readouterr().err
    assert "is incomplete: report.html, listed in manifest.json, is missing, and figures.json differs" in err
    assert not (out / "report.html").exists()


def test_a_directory_without_a_manifest_from_an_older_trustaudit_is_refused_with_the_fix(two_audits, capsys):
    directory, first, _ = two_audits
    out = directory / "out"
    first.save(out)
    (out / MANIFEST).unlink()
    before = (out / "report.html").stat().st_mtime_ns
    assert main(["render", str(out / "results.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trustaudit: error: the report set in") and "no manifest.json" in err
    assert "re-run `trustaudit run SPEC --out DIR`" in err and err.count("\n") == 1
    assert (out / "report.html").stat().st_mtime_ns == before and not (out / MANIFEST).exists()


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()], ids=["disk-full", "ctrl-c"])
def test_temporary_files_never_survive_a_failed_write_and_the_previous_set_stays_whole(two_audits, monkeypatch, failure):
    directory, first, second = two_audits
    out = directory / "out"
    first.save(out)
    before = {name: (out / name).read_bytes() for name in SET}
    real_fsync, calls = os.fsync, []

    def fsync_fails_on_the_second_file(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise failure
        real_fsync(fd)

    monkeypatch.setattr(result_module.os, "fsync", fsync_fails_on_the_second_file)
    with pytest.raises(audit.AuditInputError if isinstance(failure, OSError) else KeyboardInterrupt):
        second.save(out)
    calls.clear()
    with pytest.raises(audit.AuditInputError if isinstance(failure, OSError) else KeyboardInterrupt):
        second.save(directory / "new" / "out")
    monkeypatch.undo()
    assert _temporaries(out) == [] and {name: (out / name).read_bytes() for name in SET} == before
    assert read_set(out / "results.json").results == first.results
    assert not (directory / "new" / "out").exists()  # a directory the failed write created is not left behind


def test_other_files_are_left_alone_while_stale_temporaries_and_a_stale_report_pdf_go(two_audits):
    directory, first, _ = two_audits
    out = directory / "out"
    out.mkdir()
    write_set(out, {"results.json": "{}", "report.pdf": b"%PDF- of another audit"})
    (out / "notes.txt").write_text("mine")
    (out / ".notes.txt.abc.tmp").write_text("not ours")
    (out / ".results.json.k1ll3d.tmp").write_text("left by a killed run")
    first.save(out)
    assert sorted(os.listdir(out)) == [".notes.txt.abc.tmp", "figures.json", "manifest.json", "notes.txt", "report.html", "results.json"]
    assert (out / "notes.txt").read_text() == "mine"


def test_render_writes_the_whole_set_again_keeping_a_report_file_it_did_not_redo(two_audits, capsys):
    directory, first, _ = two_audits
    out, elsewhere = directory / "out", directory / "elsewhere"
    contents = {"results.json": first.to_json(), "figures.json": first.figures_json(), "report.pdf": b"%PDF-1.7 saved"}
    write_set(out, contents)
    assert main(["render", str(out / "results.json")]) == 0
    assert capsys.readouterr().out == f"wrote {out / 'report.html'}\n"
    saved = read_set(out / "results.json")
    assert saved.files["report.pdf"] == b"%PDF-1.7 saved" and "report.html" in saved.files
    assert main(["render", str(out / "results.json"), "--out", str(elsewhere), "--quiet"]) == 0
    assert read_set(elsewhere / "results.json").files == saved.files
