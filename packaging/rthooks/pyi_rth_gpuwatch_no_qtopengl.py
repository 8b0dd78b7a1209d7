# PyInstaller runtime hook: the bundle leaves out PySide6.QtOpenGL (the bindings alone are 9 MB). pyqtgraph imports
# it by name when it is imported (Qt/OpenGLHelpers.py, graphicsItems/PlotCurveItem.py, PColorMeshItem.py) but
# touches its classes only when OpenGL drawing is on (pyqtgraph's useOpenGL or enableExperimental options), which
# the app never turns on. This stands in for the module: importing it works, using any name in it raises
# AttributeError saying why. QtOpenGLWidgets (QOpenGLWidget, which pyqtgraph subclasses at import) stays real.
def _pyi_rthook() -> None:
    import sys
    import types

    class _LeftOut(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            if name.startswith("__"):
                raise AttributeError(name)
            raise AttributeError(f"PySide6.QtOpenGL.{name}: this build of GPU Watchdog leaves out QtOpenGL "
                                 "(pyqtgraph's OpenGL drawing is not used)")

    sys.modules["PySide6.QtOpenGL"] = _LeftOut("PySide6.QtOpenGL", "Left out of the bundle (see its runtime hook).")


_pyi_rthook()
del _pyi_rthook
