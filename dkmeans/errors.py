"""The one error hierarchy of dkmeans.

Every error a user can cause derives from :class:`DkmeansError`. The command line maps
:class:`UserInputError` (a config or input mistake: nothing was written) to exit code 2
and anything else to exit code 1 (a failure at run time: nothing was published).
"""

from __future__ import annotations


class DkmeansError(Exception):
    """Base class of all errors raised on purpose by dkmeans."""


class UserInputError(DkmeansError, ValueError):
    """A mistake in what the user gave: config, parameters or input data.

    Subclasses ``ValueError`` so that the scikit-learn-style estimators raise what
    scikit-learn's conventions expect.
    """


class ConfigError(UserInputError):
    """The job configuration is malformed or invalid.

    Parameters
    ----------
    message : str
        What is wrong, naming the key, what was expected and what was got.
    source : str, optional
        The file the configuration came from.
    """

    def __init__(self, message: str, *, source: str | None = None):
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class InputDataError(UserInputError):
    """The input data cannot be used (missing column, non-numeric feature, NaN, ...)."""


class StorageError(DkmeansError):
    """Reading or writing storage failed at run time."""


class OutputExistsError(UserInputError):
    """The output already holds a published result and the mode forbids replacing it."""


class NotFittedError(DkmeansError, ValueError, AttributeError):
    """An estimator was used before ``fit``.

    Subclasses ``ValueError`` and ``AttributeError`` as scikit-learn's ``NotFittedError`` does.
    """
