"""Package data: example configs, icons and desktop files ship inside the package
(``ndestudio.resources``) and are found through importlib.resources."""

from __future__ import annotations

import configparser
import struct
import xml.etree.ElementTree as ET
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import pytest
import tomllib

from ndestudio.core.resources import PACKAGE, config_path, examples, load_config, resource_path
from ndestudio.core.specs import SpecError
from ndestudio.core.validation import validate

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
DESKTOP_ID = "io.github.ndestudio.NDEStudio"


def test_the_bundled_examples_are_found_by_name_and_each_validates():
    found = examples()
    assert list(found) == ["cde_japanese_vowels", "cde_spirals", "ode_spiral", "sde_brownian"]
    for name, path in found.items():
        assert path.is_file() and path.name == f"{name}.json"
        assert path.parent.parent == Path(str(resources.files(PACKAGE)))
        validate(load_config(name))


def test_a_config_is_a_file_or_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # (no resources/ folder here: names come from the package)
    assert config_path("ode_spiral") == examples()["ode_spiral"]
    assert config_path("ode_spiral.json") == examples()["ode_spiral"]
    own = tmp_path / "ode_spiral.json"  # a file of the same name wins: it is what was typed
    own.write_text("{}")
    assert config_path("ode_spiral.json") == Path("ode_spiral.json")
    assert config_path("runs/missing.json") == Path("runs/missing.json")  # (reading says why)
    with pytest.raises(SpecError, match="'odespiral' is neither a config file nor a bundled"):
        config_path("odespiral")
    with pytest.raises(SpecError, match="cannot read"):
        load_config("runs/missing.json")


def test_every_package_is_listed_for_the_wheel():
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "ndestudio").rglob("__init__.py")
    }
    assert set(PYPROJECT["packages"]) == on_disk | {"ndestudio.resources"}
    assert PYPROJECT["package-dir"] == {"ndestudio.resources": "resources"}


def test_every_runtime_resource_matches_the_package_data():
    patterns = PYPROJECT["package-data"]["ndestudio.resources"]
    folder = ROOT / "resources"
    files = [
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    shipped = [f for f in files if any(fnmatch(f, pattern) for pattern in patterns)]
    left_out = sorted(set(files) - set(shipped) - {"__init__.py"})
    assert left_out and all(f.startswith("screenshots/") for f in left_out)  # (docs only)
    assert {"configs/ode_spiral.json", "icons/ndestudio.svg"} <= set(shipped)


def test_the_icon_set_has_each_size_it_names():
    assert resource_path("icons", "ndestudio.svg").read_text().lstrip().startswith("<?xml")
    sizes = []
    for folder in resource_path("icons").iterdir():
        if folder.is_dir() and folder.name != "__pycache__":
            header = (folder / "ndestudio.png").read_bytes()[:24]
            assert header[:8] == b"\x89PNG\r\n\x1a\n"
            width, height = struct.unpack(">II", header[16:24])
            assert folder.name == f"{width}x{height}"
            sizes.append(width)
    assert sorted(sizes) == [16, 24, 32, 48, 64, 128, 256, 512]


def test_the_desktop_entry_and_the_appstream_metainfo_agree():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(resource_path("desktop", f"{DESKTOP_ID}.desktop"))
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application"
    assert desktop["Exec"].split()[:2] == ["ndestudio", "gui"]
    assert desktop["Icon"] == DESKTOP_ID
    assert desktop["Categories"].endswith(";")
    meta = ET.parse(resource_path("desktop", f"{DESKTOP_ID}.metainfo.xml")).getroot()
    assert meta.tag == "component" and meta.get("type") == "desktop-application"
    assert meta.findtext("id") == DESKTOP_ID
    assert meta.findtext("launchable") == f"{DESKTOP_ID}.desktop"
    assert meta.findtext("name") == desktop["Name"]
    assert meta.findtext("summary") == desktop["Comment"]
    assert meta.find("provides/binary").text == "ndestudio"  # type: ignore[union-attr]
