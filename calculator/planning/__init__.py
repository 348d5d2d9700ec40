"""The planning layer: composes estimates into answers (sizing to a traffic and an SLO, capacity search)."""
