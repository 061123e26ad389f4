"""The package surface: every module reachable from `import incugrowth`."""


def test_every_module_is_reachable_from_the_package():
    import pkgutil

    import incugrowth

    names = {
        m.name for m in pkgutil.iter_modules(incugrowth.__path__) if not m.name.startswith("_")
    }
    for name in names:
        assert getattr(incugrowth, name).__name__ == f"incugrowth.{name}"


def test_dir_lists_the_public_names_only():
    import incugrowth

    names = dir(incugrowth)
    assert {"read_export", "read_plate_map", "find_frames", "kinetics", "report"} <= set(names)
    assert not [n for n in names if n.startswith("_") and n != "__version__"]
    assert "importlib" not in names and "annotations" not in names
    for name in names:
        getattr(incugrowth, name)


def test_every_package_data_pattern_names_files():
    """pyproject.toml's package data lists only files that exist (a pattern matching
    nothing hides a missing file from the package build)."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    for package, patterns in config["tool"]["setuptools"]["package-data"].items():
        for pattern in patterns:
            assert list((root / package).glob(pattern)), f"{package}/{pattern} matches nothing"
