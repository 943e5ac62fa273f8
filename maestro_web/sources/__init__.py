"""A graph's discovery sources (SPEC §11): the workflows the API and the pages share."""
