"""``python -m ghostsym``: the ``ghostsym`` command."""

import sys

from ghostsym.cli import main

sys.exit(main())
