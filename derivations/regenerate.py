"""Regenerate the LaTeX derivations in this folder (same code as ``ghostsym derive``).

Usage: ``python derivations/regenerate.py [--pdf]``. Every ``.tex`` file here is generated
from SymPy expressions; never edit one by hand — change the derivation and rerun this.
The ``ghostsym`` package of this checkout is used (not an installed copy), and the files are
written into this folder, whatever the working directory (``ghostsym derive`` writes into
``./derivations`` of the working directory instead).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ghostsym.cli.derive import write_documents  # noqa: E402

if __name__ == "__main__":
    for path in write_documents(HERE, pdf="--pdf" in sys.argv[1:]):
        print(path)
