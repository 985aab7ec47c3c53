"""What every dkmeans estimator shares: parameters, repr, fitted-state checks, tags.

Written to scikit-learn's conventions (``__init__`` only stores its arguments; fitted
attributes end in ``_``) without making scikit-learn a runtime dependency.
"""

from __future__ import annotations

import inspect
import numbers
import sys

import numpy as np

from dkmeans.errors import NotFittedError


class ClusterEstimator:
    """Base of the k-means estimators: ``get_params``/``set_params``, repr and tags."""

    _estimator_type = "clusterer"

    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values()
                      if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """Get parameters for this estimator.

        Parameters
        ----------
        deep : bool, default True
            Accepted for scikit-learn compatibility; no parameter is itself an estimator.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set the parameters of this estimator.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance

        Raises
        ------
        ValueError
            If a name is not a parameter of the estimator.
        """
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}.")
            setattr(self, key, value)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in
                    inspect.signature(type(self).__init__).parameters.values()}
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults.get(name, inspect.Parameter.empty)
            if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
                same = False
            else:
                try:
                    same = bool(value == default)
                except Exception:  # noqa: BLE001 - odd objects compare badly
                    same = False
            if not same:
                text = "array(...)" if isinstance(value, np.ndarray) else repr(value)
                changed.append(f"{name}={text}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self):
        """Whether ``fit`` has run (read by ``sklearn.utils.validation.check_is_fitted``)."""
        return hasattr(self, "cluster_centers_")

    def _check_fitted(self):
        """Raise :func:`not_fitted_error` unless ``fit`` has run."""
        if not self.__sklearn_is_fitted__():
            raise not_fitted_error(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def __sklearn_tags__(self):
        # Only scikit-learn's own tooling calls this, so scikit-learn is importable here.
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type="clusterer",
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
            input_tags=InputTags(sparse=False, allow_nan=False, two_d_array=True),
            non_deterministic=False,
        )

    def get_feature_names_out(self, input_features=None):
        """Names of the ``transform`` outputs: ``<classname><i>`` for each cluster."""
        self._check_fitted()
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.cluster_centers_.shape[0])],
                          dtype=object)


_SKLEARN_NOT_FITTED = {}


def not_fitted_error(message):
    """The error to raise when an estimator is used before ``fit``.

    Always a :class:`dkmeans.errors.NotFittedError`. When scikit-learn has been imported
    (by the caller: dkmeans never imports it at run time) it is also an instance of
    ``sklearn.exceptions.NotFittedError``, so ``except`` clauses and
    ``sklearn.utils.validation.check_is_fitted`` users written against scikit-learn catch it.

    Parameters
    ----------
    message : str

    Returns
    -------
    NotFittedError
    """
    sk_exceptions = sys.modules.get("sklearn.exceptions")
    sk_error = getattr(sk_exceptions, "NotFittedError", None)
    if sk_error is None:
        return NotFittedError(message)
    cls = _SKLEARN_NOT_FITTED.get(sk_error)
    if cls is None:
        cls = type("NotFittedError", (NotFittedError, sk_error), {
            "__module__": NotFittedError.__module__,
            "__doc__": NotFittedError.__doc__,
            # unpickles as the plain dkmeans error: the process reading it may lack sklearn
            "__reduce__": lambda self: (NotFittedError, self.args),
        })
        _SKLEARN_NOT_FITTED[sk_error] = cls
    return cls(message)


def check_int(name, value, owner, *, low=None, allow=()):
    """Validate an integer parameter with scikit-learn's message.

    Parameters
    ----------
    name : str
        The parameter, for the message.
    value : object
    owner : str
        The estimator's class name, for the message.
    low : int, optional
        Smallest valid value (inclusive).
    allow : tuple of str, default ()
        Strings accepted as they are (for example ``("auto",)``).

    Returns
    -------
    int or str
        ``value`` as a Python int, or the allowed string.

    Raises
    ------
    ValueError
        "The 'name' parameter of Owner must be an int in the range [low, inf). Got ... instead."
    """
    if isinstance(value, str) and value in allow:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (
            low is not None and value < low):
        expected = f"an int in the range [{low}, inf)" if low is not None else "an int"
        if allow:
            expected += " or " + " or ".join(repr(a) for a in allow)
        raise ValueError(f"The '{name}' parameter of {owner} must be {expected}. "
                         f"Got {value!r} instead.")
    return int(value)


def check_float(name, value, owner, *, low=None, low_open=False):
    """Validate a real parameter with scikit-learn's message.

    Parameters
    ----------
    name : str
        The parameter, for the message.
    value : object
    owner : str
        The estimator's class name, for the message.
    low : float, optional
        Lower bound; NaN is always rejected.
    low_open : bool, default False
        Whether ``low`` itself is excluded.

    Returns
    -------
    float
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if not ok:
        if low is None:
            expected = "a float"
        else:
            expected = f"a float in the range {'(' if low_open else '['}{low}, inf)"
        raise ValueError(f"The '{name}' parameter of {owner} must be {expected}. "
                         f"Got {value!r} instead.")
    return float(value)


#: Initialisation methods accepted by name.
INIT_METHODS = ("k-means||", "k-means++", "random")


def check_init(estimator, k, n_features, *, random_restarts):
    """Validate ``init`` and ``n_init`` with scikit-learn's rules and messages.

    Parameters
    ----------
    estimator : KMeans or MiniBatchKMeans
    k, n_features : int
    random_restarts : int
        What ``n_init="auto"`` means for ``init="random"`` (10 for KMeans, 3 for
        MiniBatchKMeans, as in scikit-learn); 1 for the other methods.

    Returns
    -------
    init : str or ndarray of shape (k, n_features), float64
    n_init : int
    """
    owner = type(estimator).__name__
    init = estimator.init
    if isinstance(init, str):
        if init not in INIT_METHODS:
            raise ValueError(f"The 'init' parameter of {owner} must be a str among "
                             f"{set(INIT_METHODS)} or an array-like. Got {init!r} instead.")
    elif callable(init):
        raise ValueError(f"The 'init' parameter of {owner} must be a str among "
                         f"{set(INIT_METHODS)} or an array-like; callables are not supported.")
    else:
        init = np.asarray(init, dtype=np.float64)
        if not np.isfinite(init).all():
            raise ValueError(f"The 'init' array of {owner} contains NaN or infinity.")
        if init.shape != (k, n_features):
            raise ValueError(
                f"The shape of the initial centers {init.shape} does not match the "
                f"number of clusters {k} or the number of features {n_features}.")
    n_init = check_int("n_init", estimator.n_init, owner, low=1, allow=("auto",))
    if n_init == "auto":
        n_init = random_restarts if isinstance(init, str) and init == "random" else 1
    if not isinstance(init, str) and n_init != 1:
        import warnings

        warnings.warn("Explicit initial center position passed: performing only one init "
                      f"in {owner} instead of n_init={n_init}.", RuntimeWarning, stacklevel=4)
        n_init = 1
    return init, n_init
