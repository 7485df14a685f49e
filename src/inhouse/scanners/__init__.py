"""File scanners (issue 10): what a file would do on load (pickles), personal data in tables, secrets in text.

The heavy parsers run only in the scanner process (python -m inhouse.scanners), isolated from the server."""
