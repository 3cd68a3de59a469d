"""What each party may see of another's records (need-to-know, releasability, reciprocity)."""
