"""One module per source kind, each with `infer(data, settings, credentials, progress) -> Inference`."""
