"""The Scrapy project: spiders, items, pipelines (fingerprint -> match -> store), run recording."""
