"""rfcx_frames: typed DataFrames and numpy audio from the RFCx/Arbimon platform."""

__version__ = "0.1.0"
