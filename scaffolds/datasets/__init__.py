"""Datasets in every format a fine-tune reads, normalised to one shape (``shape.Example``).

- ``sources``: rows from a JSONL, JSON array, CSV or Parquet file, or a ``datasets.save_to_disk``
  folder, each with its number (the file's line for JSONL, the row index + 1 otherwise);
- ``formats``: which format the rows are in (detected from the first rows' keys, or given), a
  column mapping for other names, and each row normalised to an ``Example`` or named as a problem;
- ``tokens``: the model's tokenizer (offline) or a labelled approximate count, and each example
  rendered as training sees it, with the trained part marked;
- ``report``: the dataset report (``ftstudio data check``): token lengths, truncation, the share
  of tokens trained on, the first example, the bad rows.

Heavy libraries (pyarrow, datasets, transformers) are imported only when a source or a tokenizer
needs them, so importing this package stays cheap.
"""
