# PyInstaller runtime hook: with GPUWATCH_BUNDLE_SELF_CHECK=1 the bundled program prints what Qt computes through
# ICU (packaging/bundle_self_check.py) and exits before the app starts; without the variable it does nothing.
# Runtime hooks run in __main__'s namespace, hence the one function, deleted after use.
def _pyi_rthook() -> None:
    import os

    if os.environ.get("GPUWATCH_BUNDLE_SELF_CHECK") == "1":
        import bundle_self_check

        bundle_self_check.main()


_pyi_rthook()
del _pyi_rthook
