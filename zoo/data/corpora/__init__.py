"""The pretraining corpora, one module per kind of storage (open one with `zoo.data.corpus.open_corpus`).

    base.py       `Corpus`, the interface every corpus implements, and the spec forms.
    faces.py      aligned-face geometry shared by corpora and the sampler: the template's landmarks at
                  any size, its face mask, squaring an aligned crop.
    synthetic.py  `SyntheticCorpus`: the procedural generator, streamed.
    files.py      corpora of image files on disk: identity folders, CelebA, flat folders, LFW.
    tar.py        `TarCorpus`: WebDataset shards, streamed.

The batch sampler is `zoo.data.sampler`; the alignment of unaligned photos is `zoo.data.aligned_cache`.
Nothing here imports this package's `__init__`, which stays empty so importing one corpus loads no other.
"""
