"""Regenerate the LaTeX derivations in this folder (same code as ``ghostsym derive``).

Usage: ``python derivations/regenerate.py [--pdf]``. Every ``.tex`` file here is generated
from SymPy expressions; never edit one by hand — change the derivation and rerun this.
"""

import sys
from pathlib import Path

from ghostsym.cli.derive import write_documents

if __name__ == "__main__":
    for path in write_documents(Path(__file__).resolve().parent, pdf="--pdf" in sys.argv[1:]):
        print(path)
