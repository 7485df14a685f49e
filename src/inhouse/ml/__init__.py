"""The worker side of inhouse: the only package that imports torch, transformers, datasets and the metric libraries.
It runs in worker processes (`python -m inhouse.ml.worker`), never in the hub server."""
