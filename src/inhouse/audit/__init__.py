"""THE audit writer, its hash chain, signed checkpoints and the verifier."""
