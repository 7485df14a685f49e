"""Evaluation task families: the protocol and registry (base.py) and one module per family."""
