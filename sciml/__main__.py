"""``python -m sciml``."""

import sys

from sciml.cli import entry

sys.exit(entry())
