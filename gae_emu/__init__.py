"""gae-emu: a local emulator of Google App Engine (standard environment, Python)."""

__version__ = "0.1.0"
