"""Pure label-noise functions (no I/O), each module with its array contract.

- `flags`: the flag options and the one dispatcher that owns the rules' precedence;
- `probabilities`: labels with class probabilities (cleanlab's contract), shared by classification,
  NER (per word) and clicks;
- `spans`: character spans, words and BIO tags, and how human spans differ from a model's (NER);
- `boxes`: boxes, IoU, matching and the four box errors (object detection);
- `texts`: chrF / BLEU / shared tokens between a human text and a model's (text generation);
- `clicks`: click errors |p - y| and their flag rule (CTR).
"""
from relabel.adapters.noise.flags import (CONFIDENT_LEARNING_FILTERS, FLAG_RULES, QUALITY_METHODS, FlagIngredients,
                                         FlagOptions, flag_labels, flag_lowest_quality)

__all__ = ["CONFIDENT_LEARNING_FILTERS", "FLAG_RULES", "QUALITY_METHODS", "FlagIngredients", "FlagOptions",
           "flag_labels", "flag_lowest_quality"]
