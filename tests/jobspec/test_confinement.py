"""Files a spec or a command line names are read only when they are regular files,
small enough, and (for a values_file) inside the spec's folder: never a FIFO,
/dev/zero, a directory, /proc/self/environ or a link out of the folder. Each is a
clean exit 2 within seconds, and the file's contents are never printed."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.processes import assert_no_traceback, segrun_argv

MARKER = "segrun-confinement-marker-5f3a"
HEAD = "version: 1\nclient_id: SanchezAssociates\njobs:\n  - segment_group: G\n"


def spec_with_values_file(folder, path: str, extra: str = "") -> str:
    spec = folder / "spec.yaml"
    spec.write_text(
        HEAD + f"    match_criteria: ProfileId\n    values_file: {{path: '{path}'{extra}}}\n"
    )
    return str(spec)


def outside_file(tmp_path):
    secret = tmp_path / "outside" / "ids.txt"
    secret.parent.mkdir()
    secret.write_text(f"{MARKER}\n1001\n")
    return secret


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def check_refused(segrun, spec: str, command: str, *words: str):
    result = segrun(command, spec, timeout=30, env={"SEGRUN_TEST_MARKER": MARKER})
    assert result.returncode == 2, result.stdout + result.stderr
    assert_no_traceback(result)
    out = result.stdout + result.stderr
    assert MARKER not in out
    assert "spec.yaml:6:" in out, out  # at the values_file line of the spec
    for word in words:
        assert word in out, out
    return out


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_fifo_is_refused_without_blocking(segrun, project, command):
    os.mkfifo(project / "ids.fifo")
    spec = spec_with_values_file(project, "ids.fifo")
    check_refused(segrun, spec, command, "is a pipe (FIFO), not a regular file")


def test_directory_is_refused(segrun, project):
    (project / "ids").mkdir()
    check_refused(segrun, spec_with_values_file(project, "ids"), "validate", "is a directory")


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_symlink_out_of_the_folder_is_refused(segrun, tmp_path, project, command):
    (project / "ids.txt").symlink_to(outside_file(tmp_path))
    spec = spec_with_values_file(project, "ids.txt")
    check_refused(segrun, spec, command, "is a link to a file outside the spec's folder")


def test_symlink_to_proc_environ_is_refused(segrun, project):
    (project / "env.txt").symlink_to("/proc/self/environ")
    spec = spec_with_values_file(project, "env.txt")
    check_refused(segrun, spec, "validate", "outside the spec's folder")


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/proc/self/environ", "not an absolute path"),
        ("/dev/zero", "not an absolute path"),
        ("../outside/ids.txt", "no '..'"),
    ],
)
def test_paths_out_of_the_folder_are_refused(segrun, tmp_path, project, path, words):
    outside_file(tmp_path)
    check_refused(segrun, spec_with_values_file(project, path), "plan", words)


def test_link_inside_the_folder_is_fine(segrun, project):
    (project / "data").mkdir()
    (project / "data" / "ids.txt").write_text("1001\n1002\n")
    (project / "ids.txt").symlink_to("data/ids.txt")
    result = segrun("plan", "--show-values", spec_with_values_file(project, "ids.txt"))
    assert result.returncode == 0, result.stderr
    assert '"Values":["1001","1002"]' in result.stdout.replace(" ", "")


def test_size_cap_is_configurable(segrun, project):
    (project / "ids.txt").write_text("".join(f"{1000 + i}\n" for i in range(100)))
    spec = spec_with_values_file(project, "ids.txt", ", max_bytes: 100")
    out = check_refused(segrun, spec, "validate", "is larger than 100 bytes")
    assert "values_file.max_bytes" in out
    spec = spec_with_values_file(project, "ids.txt", ", max_bytes: 1000")
    assert segrun("validate", spec).returncode == 0


def test_a_spec_that_is_not_a_regular_file(segrun, project):
    os.mkfifo(project / "spec.fifo")
    for path in (project / "spec.fifo", "/dev/zero"):
        result = segrun("validate", str(path), timeout=30)
        assert result.returncode == 2
        assert_no_traceback(result)
        assert "not a regular file" in result.stdout


@pytest.mark.parametrize("kind", ["zero", "fifo", "directory-link", "environ"])
def test_sandbox_data_file_is_refused_cleanly(tmp_path, kind):
    path = {
        "zero": "/dev/zero",
        "fifo": str(tmp_path / "data.fifo"),
        "directory-link": str(tmp_path / "dir.yaml"),
        "environ": "/proc/self/environ",
    }[kind]
    if kind == "fifo":
        os.mkfifo(path)
    if kind == "directory-link":
        os.symlink(tmp_path, path)
    result = subprocess.run(
        [*segrun_argv(), "sandbox", "--data", path],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "SEGRUN_TEST_MARKER": MARKER},
    )
    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    assert "not a usable sandbox data file" in result.stderr or "directory" in result.stderr
    assert MARKER not in result.stdout + result.stderr
