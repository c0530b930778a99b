"""What is watched: targets, campaigns, tips, allowlists."""
