"""ftstudio's side of datasets: the report ``ftstudio data check`` prints, and token counting.

The rules themselves (sources, formats, the text_template, rendering with the chat template) are the
generated project's own ``finetuning/training_data`` package, loaded by ``scaffolds.project_code``,
so a dataset ftstudio accepts is one training accepts:

- ``tokens``: the model's tokenizer (offline) or a labelled approximate count, and each example
  rendered as training sees it, with the trained part marked;
- ``report``: the dataset report (``ftstudio data check``): token lengths, truncation, the share
  of tokens trained on, the first example, the bad rows.

Heavy libraries (pyarrow, datasets, transformers) are imported only when a source or a tokenizer
needs them, so importing this package stays cheap.
"""
