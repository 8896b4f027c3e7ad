"""segrun: run MyPreferences segment-group exports from YAML job specs."""

__version__ = "0.2.0"
