"""Reverse engineering and forensics: how an image was made, whether it was generated or altered."""
