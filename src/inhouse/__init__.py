"""inhouse: the open-model hub that keeps a company's AI in-house."""

__version__ = "0.1.0"
