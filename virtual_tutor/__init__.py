"""Virtual Tutor: a self-hosted real-time voice tutor."""

__version__ = "0.1.0"
