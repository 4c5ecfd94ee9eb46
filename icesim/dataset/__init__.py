"""Labelled bot/human datasets from profiles: every session a real gather (`icesim dataset`)."""
