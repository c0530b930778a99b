"""Users, tokens and sessions, and what each principal may see."""
