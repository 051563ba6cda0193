"""The errors that mean "the user's input is wrong": the CLI prints them as one line, no traceback."""

from .checkpoints import CheckpointError
from .encoders import WeightsUnavailableError
from .images import ImageLoadError
from .training import CheckpointWriteError, NonFiniteLossError
from .video import VideoError
from .weights import NoDefaultWeightsError

USER_ERRORS: tuple[type[BaseException], ...] = (
    CheckpointError,
    WeightsUnavailableError,
    ImageLoadError,
    VideoError,
    NoDefaultWeightsError,
    NonFiniteLossError,
    CheckpointWriteError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
    ValueError,
    KeyError,
    RuntimeError,
)
