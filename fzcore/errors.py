"""facezoo's exception tree, in the shared core: `zoo.errors` re-exports it and `hub.errors` derives
from it, so neither package imports the other for its errors. Every message names the bad value and
what to do about it.

Everything a user can trigger (a bad name, option, file, image, schedule, run folder or release) raises a
`FacezooError` subclass; `recipes.UserError` (the recipes' own argument checks) is one too. The CLI prints
that tree as one line and lets anything else through as a traceback, so an internal bug shows as a bug.
Subclasses that replace a builtin also derive from it (`InputError` is a `ValueError`,
`MissingFileError` a `FileNotFoundError`), so `except ValueError` keeps working.

    FacezooError
    ├── InputError (ValueError)        a bad argument, option, image or landmark array
    │   ├── ScheduleError              an invalid freeze schedule, before training starts
    │   └── RunError                   a run folder that is incomplete or conflicts with the request
    ├── MissingFileError (FileNotFoundError)
    ├── UnknownEncoderError (KeyError) not a registered name
    ├── IntegrityError                 a sha256/manifest mismatch; nothing was loaded
    ├── NotPublishedError              not on the chosen hub (hub.RevisionNotFoundError below it)
    ├── DataError                      unusable input data (no images, unreadable video)
    ├── UnsafeModelError               a model file that needs safe_mode=False
    └── hub.HubError, hub.ReleaseExistsError, hub.staging.StagingError, recipes.UserError
"""


class FacezooError(Exception):
    """Base class for errors a user can act on."""


class InputError(FacezooError, ValueError):
    """A bad argument, option or setting, or an image/landmark array of the wrong kind."""


class MissingFileError(FacezooError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class UnknownEncoderError(FacezooError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class IntegrityError(FacezooError):
    """A file's sha256 does not match its manifest or the registry's pin; nothing was loaded."""


class NotPublishedError(FacezooError):
    """The encoder exists in the registry but not on the chosen hub."""


class ScheduleError(InputError):
    """An invalid freeze schedule, caught before training starts."""


class DataError(FacezooError):
    """Unusable input data (no images, unreadable video, ...)."""


class UnsafeModelError(FacezooError):
    """A model file would need `safe_mode=False` (e.g. a Lambda layer); facezoo refuses to load it."""


class RunError(InputError):
    """A run folder is missing or incomplete, or a request conflicts with what the run saved."""
