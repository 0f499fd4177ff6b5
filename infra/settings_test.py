"""Settings for the test suite: the one settings module, read with HAVN_ENV=test."""

import os

os.environ["HAVN_ENV"] = "test"

from infra.settings import *  # noqa: E402, F403 -- the single place a settings module is layered
