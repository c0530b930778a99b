"""The evidence layer: the content-addressed store and WARC recording."""
