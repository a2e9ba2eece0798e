"""Datasets: the BSD sets, scikit-image's bundled images and image folders (:mod:`.catalog`), real noise
(FMD wide field and CT, :mod:`.realnoise`), a synthetic real-noise demo (:mod:`.demo`) and datasets
shared between processes (:mod:`.shared`). ``python -m bench.datasets list | verify NAME | fetch NAME``.
"""
