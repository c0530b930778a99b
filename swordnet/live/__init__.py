"""Live events: an official feed fingerprinted into a rolling reference while the event runs,
candidate restreams sampled and matched against it, and the blocking list of confirmed ones."""
