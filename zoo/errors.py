"""facezoo's exception types. Every message names the bad value and what to do about it."""


class FacezooError(Exception):
    """Base class for errors a user can act on."""


class UnknownEncoderError(FacezooError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class IntegrityError(FacezooError):
    """A file's sha256 does not match its manifest or the registry's pin; nothing was loaded."""


class NotPublishedError(FacezooError):
    """The encoder exists in the registry but not on the chosen hub."""


class ScheduleError(FacezooError, ValueError):
    """An invalid freeze schedule, caught before training starts."""


class DataError(FacezooError):
    """Unusable input data (no images, unreadable video, ...)."""


class UnsafeModelError(FacezooError):
    """A model file would need `safe_mode=False` (e.g. a Lambda layer); facezoo refuses to load it."""


class RunError(FacezooError, ValueError):
    """A run folder is missing or incomplete, or a request conflicts with what the run saved."""
