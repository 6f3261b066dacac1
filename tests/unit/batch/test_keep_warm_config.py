"""Given a bad RELOAD_KEEP_WARM (or its period), the app refuses to start with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker.settings import ConfigError, Settings

VENV_BIN = str(Path(sys.executable).parent)


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RELOAD_", "MODELSLAB_"))}
    clean["PATH"] = f"{VENV_BIN}:{clean.get('PATH', '/usr/bin:/bin')}"
    return subprocess.run(
        args, env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_comma_list_and_a_file_of_ids_are_read_in_order(tmp_path: Path) -> None:
    ids = tmp_path / "keep-warm.txt"
    ids.write_text("# campaign models\nalpha\n\nbeta\nalpha\n", encoding="utf-8")

    assert Settings.from_env({"RELOAD_KEEP_WARM": " a , b "}).keep_warm == ("a", "b")
    assert Settings.from_env({"RELOAD_KEEP_WARM": str(ids)}).keep_warm == ("alpha", "beta")
    assert Settings.from_env({"RELOAD_KEEP_WARM_EVERY": "2"}).keep_warm_every == 2.0
    assert Settings.from_env({}).keep_warm_every == 6 * 24 * 3600


@pytest.mark.parametrize(
    ("variable", "value", "detail"),
    [
        ("RELOAD_KEEP_WARM", ",,", "list holds no model id"),
        ("RELOAD_KEEP_WARM", "/no/such/keep-warm.txt", "No such file"),
        ("RELOAD_KEEP_WARM", "a,b\x07c", "RELOAD_KEEP_WARM="),
        ("RELOAD_KEEP_WARM_EVERY", "soon", "a duration such as '6d'"),
    ],
)
def test_importing_the_app_with_a_bad_value_exits_2_naming_the_variable(
    variable: str, value: str, detail: str
) -> None:
    done = run([sys.executable, "-c", "import worker.celery"], **{variable: value})

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"configuration error: {variable}=")
    assert detail in lines[0]
    with pytest.raises(ConfigError):
        Settings.from_env({variable: value})


def test_beat_with_a_bad_list_does_not_start(tmp_path: Path) -> None:
    done = run(
        [sys.executable, "-m", "celery", "-A", "worker", "beat", "-s", str(tmp_path / "s")],
        RELOAD_KEEP_WARM="/no/such/keep-warm.txt",
    )

    assert done.returncode != 0
    assert "configuration error: RELOAD_KEEP_WARM='/no/such/keep-warm.txt'" in done.stderr
    assert not (tmp_path / "s").exists()
