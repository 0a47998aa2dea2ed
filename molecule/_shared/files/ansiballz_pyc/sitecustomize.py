"""pytest's module runs on this machine load the bytecode hook (ansiballz_pyc.py)."""
import ansiballz_pyc  # noqa: F401
