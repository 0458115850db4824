"""The package version (its own module, so that submodules never import the top-level package)."""

__version__ = "0.1.0"
