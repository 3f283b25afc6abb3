"""``python -m sciml``."""

import sys

from sciml.cli import main

sys.exit(main())
