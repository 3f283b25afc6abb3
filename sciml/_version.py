"""Version of the sciml package."""

__version__ = "0.1.0"
