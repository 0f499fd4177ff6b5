"""Exceptions raised by the repository engine (the callers catch these, never store errors)."""


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class IntegrityError(EngineError):
    """A sealed object or blob failed authentication, or its content does not match its id."""


class WrongKeys(EngineError):
    """The keys given do not open this repository's config object."""


class RepositoryExists(EngineError):
    """init() found a repository (or objects) already under the prefix."""


class RepositoryNotFound(EngineError):
    """open() found no config object under the prefix."""


class RepositoryLocked(EngineError):
    """A conflicting, non-stale lock is held by someone else."""


class LockLost(EngineError):
    """Our lock vanished or went stale while we held it; the operation must not finish."""


class BlobNotFound(EngineError, KeyError):
    """A blob id is not in the index, or its pack is gone."""


class EntryNotFound(EngineError, KeyError):
    """A path is not in a snapshot's tree (or is not a regular file)."""


class PruneError(EngineError):
    """Prune refused to run because the repository is damaged (a snapshot needs a missing blob)."""


class RepositoryDamaged(IntegrityError):
    """The repository's ``config`` object is damaged (the keys open its other objects)."""
