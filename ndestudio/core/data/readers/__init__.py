"""The readers behind :func:`ndestudio.core.data.files.load_file`, one module per format.

``common`` holds what they share (errors, limits, messages, the per-series checks and the
union time grid), ``sniff`` what a file looks like from its first bytes; ``csvfile`` reads CSV
with pandas, ``parquetfile`` Parquet with pyarrow, ``npzfile`` NumPy archives. pandas and
pyarrow are imported only inside the functions that read their formats.
"""
