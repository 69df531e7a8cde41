"""Format ids and the one protocol that both sides use: the library records them with crops and encoders,
the hub's cards and releases read them. Each has this one home (`zoo.spec` re-exports them)."""

ALIGNMENT_TEMPLATE = "facezoo-5pt-v1"   # facezoo's 5-point face alignment (zoo.data.align)

# The attribute where a facezoo model carries its facts (`zoo.spec.EncoderInfo`). `hub.publish` asks the
# object found there for `release_facts(model) -> dict` (spec, normalisation, alignment, shapes) and
# records them in facezoo.json, without importing zoo: a duck-typed protocol, not a dependency.
INFO_ATTR = "facezoo_info"
