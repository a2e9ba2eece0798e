"""Cells and executors: the specs whose hash names a cached result (:mod:`.specs`), the runner that
computes them (:mod:`.runner`), the cache folder's layout and records (:mod:`.store`), the executors that
spread them over processes or a cluster (:mod:`.executors`), the metrics (:mod:`.metrics`) and the
provenance every record carries (:mod:`.provenance`)."""
