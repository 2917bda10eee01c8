"""The code's version, recorded with every model version it trains."""
__version__ = "0.1.0"
