"""File scanners (issue 10): what a file would do on load (pickles), personal data in tables, secrets in text.

The heavy parsers run only in the scanner process (python -m inhouse.scanners), isolated from the server. This
package's import is light: `MODULES` names each scanner's module as a string and `load` imports it only when
asked, so importing inhouse.scanners never imports presidio-analyzer or pyarrow (only the process loads
`personal_data`)."""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import cast

from inhouse.scanners.base import ScannerModule
from inhouse.vocabulary import Scanner

# Scanner -> its module, imported lazily (read-only mapping: no module-level mutable state).
MODULES: MappingProxyType[Scanner, str] = MappingProxyType(
    {
        Scanner.PICKLE: "inhouse.scanners.pickles",
        Scanner.PERSONAL_DATA: "inhouse.scanners.personal_data",
        Scanner.SECRETS: "inhouse.scanners.secrets",
    }
)


# Scanner -> the VERSION its module declares, readable without importing the module (the server decides which cached
# results are current without importing personal_data). tests/scanners/test_protocol.py checks that they agree.
VERSIONS: MappingProxyType[Scanner, str] = MappingProxyType(
    {
        Scanner.PICKLE: "1",
        Scanner.PERSONAL_DATA: "1",
        Scanner.SECRETS: "1",
    }
)


def load(scanner: Scanner) -> ScannerModule:
    """The scanner's module (imported on first use; Python keeps it in sys.modules)."""
    return cast(ScannerModule, importlib.import_module(MODULES[scanner]))
