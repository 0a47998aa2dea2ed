"""Test runs' Pythons load the payload cache (ansiballz_payload.py) and, when
its directory is on PYTHONPATH too, the bytecode hook of pytest's module runs
(molecule/_shared/files/ansiballz_pyc): Python imports only the first
sitecustomize it finds."""
import ansiballz_payload  # noqa: F401

try:
    import ansiballz_pyc  # noqa: F401
except ImportError:
    pass
