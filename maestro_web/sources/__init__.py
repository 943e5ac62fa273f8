"""A graph's discovery sources (SPEC §11) and its history (§13): the workflows the API and the pages share."""
