"""Large-file services: the Xet CAS (uploads, dedup, reconstructions, tokens), the Git LFS batch API and its
multipart parts, the background LFS→xorb converter, and storage garbage collection."""
