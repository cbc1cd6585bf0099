"""Virtual Tutor's programs: the command line, the headless client and the model installer."""

from core import __version__

__all__ = ["__version__"]
