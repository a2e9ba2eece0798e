"""Tests of bench.datasets.catalog: BSD datasets, scikit-image splits, image folders, checksums, fetching
and the CLI."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from skimage import io

from bench.datasets import catalog as data
from bench.datasets.catalog import (
    DATA_ROOT_ENV,
    DataError,
    Dataset,
    fetch_dataset,
    list_datasets,
    load_dataset,
    resolve_data_root,
    verify_dataset,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


def _find_shared_data() -> Path | None:
    candidates = []
    if os.environ.get(DATA_ROOT_ENV):
        candidates.append(Path(os.environ[DATA_ROOT_ENV]))
    candidates += [REPO_ROOT / "shared" / "data", REPO_ROOT.parent / "shared" / "data"]
    for cand in candidates:
        if (cand / "BSD68").is_dir() and (cand / "BSD400").is_dir():
            return cand.resolve()
    return None


SHARED = _find_shared_data()
needs_shared = pytest.mark.skipif(
    SHARED is None,
    reason=f"shared BSD data not found (looked in ${DATA_ROOT_ENV}, {REPO_ROOT}/shared/data, ../shared/data)",
)


@pytest.fixture(autouse=True)
def _no_env_root(monkeypatch):
    """Tests pass data roots explicitly; an outside $GAN2GAN_DATA must not leak in."""
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------- registry


def test_list_datasets():
    assert list_datasets() == ["bsd400", "bsd68", "skimage-train", "skimage-test"]


def test_resolve_data_root(monkeypatch, tmp_path):
    assert resolve_data_root() is None
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "env"))
    assert resolve_data_root() == tmp_path / "env"
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'nope'"):
        load_dataset("nope")


def test_shipped_sums_match_shared_file():
    shipped = (REPO_ROOT / "bench" / "datasets" / "sha256sums.txt").read_text()
    sums = data._read_sums()
    assert len(sums["BSD400"]) == 400 and len(sums["BSD68"]) == 68
    if SHARED is not None:
        assert shipped == (SHARED / "SHA256SUMS").read_text()


# --------------------------------------------------------------------------------------------- BSD


@needs_shared
def test_load_bsd68():
    ds = load_dataset("bsd68", data_root=SHARED)
    assert isinstance(ds, Dataset)
    assert ds.name == "bsd68" and len(ds.images) == 68 == len(ds.names) == len(ds.checksums)
    assert list(ds.names) == sorted(ds.names) and ds.names[0] == "test001.png"
    assert ds.source == str(SHARED / "BSD68")
    for img in ds.images:
        assert img.dtype == np.float32 and img.shape in {(321, 481), (481, 321)}
        assert img.min() >= 0.0 and img.max() <= 1.0
        assert not img.flags.writeable
    assert ds.checksums[0] == _sha(SHARED / "BSD68" / "test001.png")
    raw = io.imread(SHARED / "BSD68" / "test001.png")
    np.testing.assert_allclose(ds.images[0], raw / 255.0, atol=1e-7)


@needs_shared
def test_load_bsd400_and_limit(monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(SHARED))
    ds = load_dataset("bsd400")
    assert len(ds.images) == 400 and all(img.shape == (180, 180) for img in ds.images)
    assert list(ds.names) == sorted(ds.names)
    small = load_dataset("bsd400", limit=5)
    assert small.names == ds.names[:5]
    np.testing.assert_array_equal(small.images[4], ds.images[4])


@needs_shared
def test_bsd_min_size():
    load_dataset("bsd68", data_root=SHARED, limit=3, min_size=321)
    with pytest.raises(DataError, match=r"test001\.png is 481x321, smaller than the patch size 322"):
        load_dataset("bsd68", data_root=SHARED, min_size=322)


def test_bsd_missing_root(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=rf"looked in {tmp_path}/BSD68 \(from --data-root\).*fetch bsd68"):
        load_dataset("bsd68", data_root=tmp_path)
    with pytest.raises(DataError, match=r"no data root given.*\$GAN2GAN_DATA"):
        load_dataset("bsd68")
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    with pytest.raises(DataError, match=r"from \$GAN2GAN_DATA"):
        load_dataset("bsd400")


@pytest.fixture
def partial_bsd68(tmp_path):
    """A data root holding 3 files of BSD68, the second one corrupted."""
    if SHARED is None:
        pytest.skip("shared BSD data not found")
    folder = tmp_path / "root" / "BSD68"
    folder.mkdir(parents=True)
    for fname in ("test001.png", "test002.png", "test003.png"):
        shutil.copyfile(SHARED / "BSD68" / fname, folder / fname)
    (folder / "test002.png").chmod(0o644)
    with open(folder / "test002.png", "r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00\xff" * 8)
    return folder.parent


@needs_shared
def test_verify_ok():
    assert verify_dataset("bsd68", data_root=SHARED) == []


def test_verify_partial_copy(partial_bsd68):
    problems = verify_dataset("bsd68", data_root=partial_bsd68)
    missing = [p for p in problems if p.startswith("missing:")]
    corrupt = [p for p in problems if p.startswith("checksum mismatch:")]
    assert len(missing) == 65 and len(corrupt) == 1 and len(problems) == 66
    assert "test002.png" in corrupt[0]
    assert any(p.endswith("test068.png") for p in missing)
    with pytest.raises(DataError, match="65 of 68 files missing"):
        load_dataset("bsd68", data_root=partial_bsd68)


def test_verify_unexpected_file(partial_bsd68):
    shutil.copyfile(partial_bsd68 / "BSD68" / "test001.png", partial_bsd68 / "BSD68" / "extra.png")
    problems = verify_dataset("bsd68", data_root=partial_bsd68)
    assert any(p.startswith("unexpected file:") and "extra.png" in p for p in problems)


# --------------------------------------------------------------------------------------------- fetch


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):  # keep test output quiet
        pass


@pytest.fixture
def serve(request, monkeypatch):
    """Serve a folder over HTTP on 127.0.0.1; return (url, list of requested paths)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")

    def start(directory: Path) -> tuple[str, list[str]]:
        handler = type("Handler", (_CountingHandler,), {"requests": []})
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()

        def stop():
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        request.addfinalizer(stop)
        return f"http://127.0.0.1:{server.server_address[1]}", handler.requests

    return start


@needs_shared
def test_fetch_bsd68(serve, tmp_path):
    url, requests = serve(SHARED)
    root = tmp_path / "root"
    folder = fetch_dataset("bsd68", data_root=root, base_url=f"{url}/BSD68", progress=False)
    assert folder == root / "BSD68"
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in (SHARED / "BSD68").iterdir())
    assert len(requests) == 68
    assert verify_dataset("bsd68", data_root=root) == []
    assert len(load_dataset("bsd68", data_root=root).images) == 68

    fetch_dataset("bsd68", data_root=root, base_url=f"{url}/BSD68", progress=False)
    assert len(requests) == 68  # second fetch downloads nothing

    (folder / "test010.png").write_bytes(b"broken")
    (folder / "test011.png").unlink()
    fetch_dataset("bsd68", data_root=root, base_url=f"{url}/BSD68/", progress=True)
    assert sorted(requests[68:]) == ["/BSD68/test010.png", "/BSD68/test011.png"]
    assert verify_dataset("bsd68", data_root=root) == []


@needs_shared
def test_fetch_corrupt_download(serve, tmp_path):
    served = tmp_path / "served" / "BSD68"
    shutil.copytree(SHARED / "BSD68", served)
    (served / "test005.png").chmod(0o644)
    (served / "test005.png").write_bytes(b"not the real image")
    url, _ = serve(served.parent)
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"test005\.png") as info:
        fetch_dataset("bsd68", data_root=root, base_url=f"{url}/BSD68", progress=False)
    assert "\n" not in str(info.value)
    assert not (root / "BSD68" / "test005.png").exists()


def test_fetch_missing_file_on_server(serve, tmp_path):
    url, _ = serve(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"test001\.png.*404"):
        fetch_dataset("bsd68", data_root=tmp_path / "root", base_url=url, progress=False)


def test_fetch_other_kinds(tmp_path):
    assert fetch_dataset("skimage-test").is_dir()
    with pytest.raises(DataError, match="cannot be fetched"):
        fetch_dataset(f"folder:{tmp_path}")
    with pytest.raises(DataError, match="no data root"):
        fetch_dataset("bsd68")


# --------------------------------------------------------------------------------------------- skimage


def test_skimage_splits():
    train = load_dataset("skimage-train")
    test = load_dataset("skimage-test")
    assert set(test.names) == {"camera", "coins", "moon", "page", "astronaut", "coffee"}
    assert len(train.names) >= 6 and not set(train.names) & set(test.names)
    for ds in (train, test):
        assert list(ds.names) == sorted(ds.names)
        assert ds.source.startswith("scikit-image ") and ds.source.endswith("(bundled)")
        assert len(ds.checksums) == len(ds.images)
        for img in ds.images:
            assert img.dtype == np.float32 and img.ndim == 2
            assert img.min() >= 0.0 and img.max() <= 1.0 and img.std() > 0.01
    assert verify_dataset("skimage-test") == []
    assert load_dataset("skimage-test", limit=2).names == test.names[:2]


# --------------------------------------------------------------------------------------------- folders


def test_folder_scaling_and_conversion(tmp_path):
    rng = np.random.default_rng(0)
    gray8 = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (16, 18), dtype=np.uint16)
    rgb = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    io.imsave(tmp_path / "a.png", gray8, check_contrast=False)
    io.imsave(tmp_path / "b.TIF", gray16, check_contrast=False)
    io.imsave(tmp_path / "c.png", rgb, check_contrast=False)
    (tmp_path / "README.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="color converted to gray as 0.2125 R .* in 1 of 3 images"):
        ds = load_dataset(f"folder:{tmp_path}")
    assert ds.name == f"folder:{tmp_path.resolve()}" and ds.names == ("a.png", "b.TIF", "c.png")
    np.testing.assert_allclose(ds.images[0], gray8 / 255.0, atol=1e-7)
    np.testing.assert_allclose(ds.images[1], gray16 / 65535.0, atol=1e-7)
    assert ds.images[2].shape == (12, 10) and ds.images[2].dtype == np.float32
    assert ds.checksums[0] == _sha(tmp_path / "a.png")
    assert all(not img.flags.writeable for img in ds.images)


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="holds no image files"):
        load_dataset(f"folder:{tmp_path}")
    (tmp_path / "x.png").write_bytes(b"this is not a png")
    with pytest.raises(DataError, match=rf"cannot read image {tmp_path.resolve()}/x\.png: "):
        load_dataset(f"folder:{tmp_path}")
    assert any("x.png" in p for p in verify_dataset(f"folder:{tmp_path}"))


def test_folder_min_size_and_float_range(tmp_path):
    io.imsave(tmp_path / "tiny.png", np.full((20, 30), 7, np.uint8), check_contrast=False)
    with pytest.raises(DataError, match=r"image .*tiny\.png is 20x30, smaller than the patch size 40"):
        load_dataset(f"folder:{tmp_path}", min_size=40)
    assert load_dataset(f"folder:{tmp_path}", min_size=20).images[0].shape == (20, 30)
    bad = tmp_path / "float"
    bad.mkdir()
    io.imsave(bad / "f.tif", np.full((8, 8), 2.0, np.float32), check_contrast=False)
    with pytest.raises(DataError, match=r"f\.tif has float values outside \[0, 1\]"):
        load_dataset(f"folder:{bad}")


# --------------------------------------------------------------------------------------------- CLI


@needs_shared
def test_cli_list_and_verify(capsys):
    assert data.main(["list", "--data-root", str(SHARED)]) == 0
    out = capsys.readouterr().out
    assert "bsd68" in out and "skimage-test" in out and "found" in out
    assert data.main(["verify", "bsd68", "--data-root", str(SHARED)]) == 0
    assert capsys.readouterr().out.strip() == "ok: 68 files"


def test_cli_errors(tmp_path, capsys, partial_bsd68):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert data.main(["verify", "bsd68", "--data-root", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: dataset 'bsd68' not found") and err.count("\n") == 1
    assert data.main(["verify", "bsd68", "--data-root", str(partial_bsd68)]) == 1
    assert "checksum mismatch" in capsys.readouterr().out
    assert data.main(["fetch", f"folder:{tmp_path}"]) == 2
    assert data.main(["list"]) == 0
    assert "no data root" in capsys.readouterr().out


def test_cli_module_entry_point(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != DATA_ROOT_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.datasets", "verify", "bsd400", "--data-root", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_dataset_names_parse_once_into_specs_that_name_themselves(tmp_path, monkeypatch):
    from bench.datasets.catalog import parse_dataset

    monkeypatch.chdir(tmp_path)
    folder = parse_dataset("folder:images")
    assert folder.kind == "folder" and folder.path == tmp_path / "images"
    assert folder.name == f"folder:{tmp_path / 'images'}" and parse_dataset(folder.name) == folder
    assert parse_dataset("bsd68").name == "bsd68" and not parse_dataset("bsd68").real_noise
    with pytest.raises(DataError, match="unknown dataset 'bsd69'"):
        parse_dataset("bsd69")
    with pytest.raises(DataError, match="unknown fmd level"):
        parse_dataset("fmd:/data:avg3:train")
