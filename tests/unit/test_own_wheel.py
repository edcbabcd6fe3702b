"""host/own_wheel.py: a wheel of the running func-py, from this checkout (the editable install
the tests run on) and from a regular install of that wheel in a fresh venv; each written wheel
installs into another fresh venv with --no-deps and imports."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from funcpy.host import __version__
from funcpy.host.own_wheel import WheelError, source_tree, wheel_from_distribution, write_wheel

REPO = Path(__file__).resolve().parents[2]


def fresh_venv(where: Path) -> Path:
    venv.create(where, with_pip=False)  # pip comes from the test's own interpreter
    return where / "bin" / "python"


def pip_install(python: Path, wheel: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--quiet", "--no-deps", str(wheel)], check=True, capture_output=True,
                   timeout=300)


def run(python: Path, code: str, cwd: Path) -> str:
    # -I: nothing from the working directory or PYTHONPATH, so the venv's install is used
    done = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def check_record(wheel: Path) -> set[str]:
    """Every file of the wheel is in its RECORD with the right sha256 and size; returns the
    package files."""
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        [record] = [n for n in names if n.endswith(".dist-info/RECORD")]
        rows = list(csv.reader(io.StringIO(z.read(record).decode())))
        assert {row[0] for row in rows} == names
        for name, digest, size in rows:
            if name == record:
                assert (digest, size) == ("", "")
                continue
            data = z.read(name)
            raw = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={raw.decode()}" and int(size) == len(data), name
        wheel_meta = z.read(record.replace("RECORD", "WHEEL")).decode()
        assert "Root-Is-Purelib: true" in wheel_meta and "Tag: py3-none-any" in wheel_meta
        assert "func-py" in z.read(record.replace("RECORD", "entry_points.txt")).decode()
    return {n for n in names if not n.split("/")[0].endswith(".dist-info")}


@pytest.fixture(scope="module")
def source_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert source_tree() == REPO  # the tests run on the editable install of this checkout
    return write_wheel(tmp_path_factory.mktemp("source") / "wheels")


def test_a_checkout_is_built_by_pip_and_installs(source_wheel: Path, tmp_path: Path) -> None:
    assert source_wheel.name == f"func_py-{__version__}-py3-none-any.whl"
    files = check_record(source_wheel)
    assert "funcpy/host/own_wheel.py" in files and "funcpy/triggers/__init__.py" in files
    assert not any("__pycache__" in f for f in files)
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, source_wheel)
    where = run(python, "import funcpy.host; print(funcpy.host.__version__, "
                        "funcpy.host.__file__)", tmp_path)
    assert where.startswith(f"{__version__} {tmp_path / 'venv'}")


def test_a_regular_install_is_put_back_into_a_wheel_that_installs(
        source_wheel: Path, tmp_path: Path) -> None:
    installed = fresh_venv(tmp_path / "installed")
    pip_install(installed, source_wheel)  # a regular install, with its bytecode compiled
    out = tmp_path / "out"
    written = run(installed, "from pathlib import Path; from funcpy.host.own_wheel import "
                             "source_tree, write_wheel; assert source_tree() is None; "
                             f"print(write_wheel(Path({str(out)!r})))", tmp_path)
    wheel = Path(written)
    assert wheel == out / f"func_py-{__version__}-py3-none-any.whl"
    assert check_record(wheel) == check_record(source_wheel)  # the same package files
    with zipfile.ZipFile(wheel) as z:
        info = f"func_py-{__version__}.dist-info"
        assert not {f"{info}/INSTALLER", f"{info}/direct_url.json"} & set(z.namelist())
        assert z.read(f"{info}/METADATA") == zipfile.ZipFile(source_wheel).read(
            f"{info}/METADATA")
    again = fresh_venv(tmp_path / "again")
    pip_install(again, wheel)
    assert run(again, "import funcpy.host; print(funcpy.host.__version__)",
               tmp_path) == __version__
    assert (tmp_path / "again" / "bin" / "func-py").is_file()  # the entry point came along


def test_a_distribution_without_record_is_refused(tmp_path: Path) -> None:
    class NoRecord:
        files = None
        version = "0.1.0"

    with pytest.raises(WheelError, match="has no RECORD"):
        wheel_from_distribution(NoRecord(), tmp_path)  # type: ignore[arg-type]
