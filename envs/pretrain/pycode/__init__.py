"""pretrain/pycode: byte-level language modelling of the standard library's sources."""
