"""Colorizing many photos: one set of stages (``stages.py``: plan, decode, colorize, write, one
problem line per photo that failed, one ``Report``) run by two engines: ``local.py`` (this process, codecs in a
thread beside the network) and ``ray.py`` (a Ray Data pipeline with a manifest, huenet[ray])."""

from .local import colorize_files
from .stages import Item, Report, output_path_for

__all__ = ["Item", "Report", "colorize_files", "output_path_for"]
