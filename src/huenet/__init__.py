"""huenet: automatic photo colorization. Grayscale (L) in, plausible color (ab) out."""

__version__ = "0.1.0"

from .color import LabScaling, lab_to_rgb, rgb_to_lab  # noqa: E402
from .colorize import Colorizer  # noqa: E402
from .models import create_model, model_names  # noqa: E402

__all__ = ["Colorizer", "LabScaling", "create_model", "lab_to_rgb", "model_names", "rgb_to_lab", "__version__"]
