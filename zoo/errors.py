"""facezoo's exception tree, re-exported from the shared core (`fzcore.errors`, where it is drawn and
documented) so library users write `from zoo.errors import InputError`; `zoo.errors.InputError is
fzcore.errors.InputError`, and the hub's errors derive from the same core classes."""
from fzcore.errors import (DataError, FacezooError, InputError, IntegrityError, MissingFileError,  # noqa: F401
                           NotPublishedError, RunError, ScheduleError, UnknownEncoderError, UnsafeModelError)

__all__ = ["DataError", "FacezooError", "InputError", "IntegrityError", "MissingFileError", "NotPublishedError",
           "RunError", "ScheduleError", "UnknownEncoderError", "UnsafeModelError"]
