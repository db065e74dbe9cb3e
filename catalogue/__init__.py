"""Where the seat models come from: sources (Debian packages, committed packs), licences, normalisation."""
