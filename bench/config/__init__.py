"""Configuration: the profiles (:mod:`.profiles`, typed sizes and each method's hyper-parameters) and the
command-line options, parsed once into a frozen object (:mod:`.options`)."""
