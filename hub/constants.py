"""File names, formats and environment variables of a facezoo release, in one place.

A release is one commit in the Keras `hf://` layout plus a manifest. Keeping the names here means the
publisher, the puller, the server and the tests can never disagree about them.
"""
from __future__ import annotations

# Keras' directory layout (`keras.saving.save_model(model, dir, zipped=False)`), which `hf://` reads.
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
# Model card, rendered from `hub/templates/card.md`.
CARD_FILE = "README.md"
# facezoo's manifest: metadata plus a sha256 for every other file of the release.
MANIFEST_FILE = "facezoo.json"

KERAS_FILES = (CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE)
RELEASE_FILES = (*KERAS_FILES, CARD_FILE, MANIFEST_FILE)
# Files a Hub may add to a repository on its own; tolerated, never trusted, never loaded.
HOST_FILES = frozenset({".gitattributes"})

MANIFEST_FORMAT = "facezoo-release"
FORMAT_VERSION = 1
DEFAULT_REVISION = "main"
# The HDF5 signature: `model.weights.h5` must start with it.
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

# Environment.
ENV_HUB = "FACEZOO_HUB"          # which hub: a directory, "hf", or an http(s) URL
from fzcore.paths import ENV_HOME  # noqa: E402,F401  facezoo's data folder (embedded hub and cache)
# Test hook: "POINT:SECONDS" makes the process announce and sleep at POINT ("publish" = after blobs and
# commit are written, before the refs move; "pull" = after the first file reached the temp folder),
# so a test can kill -9 it at a known place. Unset in normal use.
ENV_TEST_PAUSE = "FACEZOO_HUB_TEST_PAUSE"
PAUSE_MARKER = "facezoo-hub-test-pause"

HF_ALIASES = frozenset({"hf", "huggingface", "hf://"})
