"""`racer tracks` commands: list, show, import (good and bad files), export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from racer.cli.main import app, main

runner = CliRunner()


@pytest.fixture(autouse=True)
def racer_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RACER_HOME", str(home))
    return home


def ring_npy(path: Path, n: int = 60, r: float = 3.0, w: float = 0.9) -> Path:
    theta = 2 * np.pi * np.arange(n + 1) / n  # DeepRacer repeats the first row at the end
    ring = np.stack((np.cos(theta), np.sin(theta)), axis=1)
    np.save(path, np.hstack((ring * r, ring * (r - w / 2), ring * (r + w / 2))))
    return path


def test_list_shows_builtins() -> None:
    result = runner.invoke(app, ["tracks", "list"])
    assert result.exit_code == 0, result.output
    for name in ("oval", "loop", "technical", "speedway", "narrow"):
        assert name in result.output
    assert "built-in" in result.output
    oval_line = next(line for line in result.output.splitlines() if " oval " in line)
    assert "21.3" in oval_line and "1.00" in oval_line


def test_show_writes_png(tmp_path: Path) -> None:
    out = tmp_path / "oval.png"
    result = runner.invoke(app, ["tracks", "show", "oval", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "oval" in result.output


def test_import_good_file_then_list_and_show(tmp_path: Path, racer_home: Path) -> None:
    src = ring_npy(tmp_path / "ring.npy")
    result = runner.invoke(app, ["tracks", "import", str(src), "--name", "myring"])
    assert result.exit_code == 0, result.output
    assert (racer_home / "tracks" / "myring.npy").is_file()
    listing = runner.invoke(app, ["tracks", "list"]).output
    assert "myring" in listing and "user" in listing
    out = tmp_path / "myring.png"
    assert runner.invoke(app, ["tracks", "show", "myring", "-o", str(out)]).exit_code == 0
    assert out.is_file()


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0), capsys.readouterr().err


def test_import_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((10, 4)))
    code, err = run_main(["tracks", "import", str(bad), "--name", "bad"], capsys)
    assert code == 2
    assert err.startswith("racer: error: ") and "bad.npy" in err and "(N, 6)" in err
    assert len(err.strip().splitlines()) == 1


def test_import_existing_name_needs_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = ring_npy(tmp_path / "ring.npy")
    assert runner.invoke(app, ["tracks", "import", str(src)]).exit_code == 0
    code, err = run_main(["tracks", "import", str(src)], capsys)
    assert code == 2 and "--force" in err
    assert runner.invoke(app, ["tracks", "import", str(src), "--force"]).exit_code == 0
    code, err = run_main(["tracks", "import", str(src), "--name", "oval"], capsys)
    assert code == 2 and "built-in" in err


def test_unknown_track_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["tracks", "show", "ovl"], capsys)
    assert code == 2
    assert "did you mean 'oval'" in err


def test_export_npy(tmp_path: Path) -> None:
    out = tmp_path / "oval.npy"
    result = runner.invoke(app, ["tracks", "export", "oval", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = np.load(out)
    assert rows.shape[1] == 6 and np.array_equal(rows[0], rows[-1])


def test_line_json_csv_and_picture(tmp_path: Path) -> None:
    import json

    csv_path, png = tmp_path / "line.csv", tmp_path / "line.png"
    result = runner.invoke(
        app, ["tracks", "line", "oval", "--json", "--csv", str(csv_path), "--out", str(png)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["track"] == "oval" and summary["method"] == "min-time"
    assert 0 < summary["bound_s"] < summary["centerline_bound_s"]
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert csv_path.read_text().startswith("s_m,x_m,y_m,speed_mps\n")


def test_line_one_line_summary_reversed() -> None:
    result = runner.invoke(
        app, ["tracks", "line", "narrow", "--reverse", "--method", "min-curvature"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "narrow-reversed" in lines[0] and "bound" in lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--margin", "-0.1"], "margin"), (["--method", "fastest"], "unknown racing line method")],
)
def test_line_bad_values_exit_2(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(["tracks", "line", "oval", *args], capsys)
    assert code == 2
    assert err.startswith("racer: error: ") and needle in err
    assert len(err.strip().splitlines()) == 1
