//! Layers: tar streams (plain, gzip, zstd) unpacked safely into a directory.
