"""The package surface: every module reachable from `import incugrowth`."""


def test_every_module_is_reachable_from_the_package():
    import pkgutil

    import incugrowth

    names = {
        m.name for m in pkgutil.iter_modules(incugrowth.__path__) if not m.name.startswith("_")
    }
    for name in names:
        assert getattr(incugrowth, name).__name__ == f"incugrowth.{name}"
